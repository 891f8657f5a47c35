package ring

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/shmkit/shmkit/internal/stream"
	"github.com/shmkit/shmkit/shm"
)

// Pipe returns the two ends of a new message pipe in shared memory, like
// Python's multiprocessing.Pipe. With duplex both ends send and receive;
// otherwise the first end only receives and the second only sends. Each
// direction is an SPSC ring in an anonymous segment the ends share; pass
// an end to another process as a task argument (package fork) or by
// Ref/OpenConn.
//
// Messages of any length travel: longer ones are split across slots and
// reassembled. A Conn may be used by one sending and one receiving
// goroutine at a time.
func Pipe(duplex bool) (*Conn, *Conn, error) {
	return PipeWith(duplex, nil)
}

// PipeOptions tune a Pipe. A nil *PipeOptions means the zero value.
type PipeOptions struct {
	// Slots per direction; zero means 16. A power of two.
	Slots int
	// SlotSize is the largest fragment in bytes, its 1- or 5-byte header
	// included; zero means 64 KiB + 5, so that a 64 KiB message is one
	// fragment.
	SlotSize int
}

// Conn is one end of a Pipe.
//
// Segment layout (version 1):
//
//	offset      size  field
//	0           4     magic "shmP"
//	4           4     version 1
//	8           4     duplex (0 or 1)
//	12          4     ring size in bytes (R), each ring
//	16..63      —     zero
//	64          R     ring 0: end 1 sends, end 0 receives
//	64+R        R     ring 1: end 0 sends, end 1 receives (duplex only)
//
// Each ring is an SPSC ring (see SPSC for its layout). A message is one or
// more slots, each starting with a flags byte: bit 0 first fragment, bit 1
// last fragment; a first fragment then holds the message's total length
// (uint32, native order), and the data follows.
type Conn struct {
	seg    *shm.Segment
	end    int
	send   *SPSC      // nil for a receive-only end
	recv   *SPSC      // nil for a send-only end
	sendMu sync.Mutex // held by Send, and by Close while it unmaps
	recvMu sync.Mutex // held by Recv, RecvInto and Poll, and by Close
	gone   bool       // unmapped; guarded by both mutexes

	closeOnce sync.Once
	closeErr  error
}

const (
	pipeMagic   = 0x50686d73 // "shmP"
	pipeVersion = 1
	pipeHeader  = 64

	fragFirst = 1
	fragLast  = 2
	fragHdr   = 1 // flags byte
	firstHdr  = 5 // flags + total length
)

// ErrPipe: a pipe segment or message is malformed.
var ErrPipe = errors.New("ring: malformed pipe")

// geometry returns the slot count and size, applying defaults.
func (o *PipeOptions) geometry() (int, int) {
	slots, size := 16, 64<<10+firstHdr
	if o != nil && o.Slots > 0 {
		slots = o.Slots
	}
	if o != nil && o.SlotSize > 0 {
		size = o.SlotSize
	}
	return slots, size
}

// PipeWith is Pipe with a chosen geometry.
func PipeWith(duplex bool, opts *PipeOptions) (*Conn, *Conn, error) {
	slots, slotSize := opts.geometry()
	if slotSize <= firstHdr {
		return nil, nil, fmt.Errorf("%w: slot size %d leaves no room for data", ErrGeometry, slotSize)
	}
	rsize := SPSCSize(slots, slotSize)
	if rsize == 0 {
		return nil, nil, fmt.Errorf("%w: %d slots of %d bytes", ErrGeometry, slots, slotSize)
	}
	rsize = (rsize + 63) &^ 63
	rings := 1
	if duplex {
		rings = 2
	}
	// Not reserved: pages are allocated as messages reach them, so a Pipe
	// costs what its traffic uses (one page per slot for small messages),
	// and making one does not zero megabytes. A memfd has
	// no tmpfs size limit to run into later; only running out of memory
	// altogether would be a SIGBUS.
	seg, err := shm.AnonymousOptions(int64(pipeHeader+rings*rsize), &shm.Options{NoReserve: true})
	if err != nil {
		return nil, nil, err
	}
	b := seg.Bytes()
	for i := 0; i < rings; i++ {
		if _, err := NewSPSC(b[pipeHeader+i*rsize:pipeHeader+(i+1)*rsize], slots, slotSize); err != nil {
			seg.Close()
			return nil, nil, err
		}
	}
	binary.NativeEndian.PutUint32(b[4:], pipeVersion)
	if duplex {
		binary.NativeEndian.PutUint32(b[8:], 1)
	}
	binary.NativeEndian.PutUint32(b[12:], uint32(rsize))
	binary.NativeEndian.PutUint32(b[0:], pipeMagic)
	c0, err := attachConn(seg, 0)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	other, err := shm.OpenRef(seg.Ref(), nil)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	c1, err := attachConn(other, 1)
	if err != nil {
		seg.Close()
		other.Close()
		return nil, nil, err
	}
	return c0, c1, nil
}

// attachConn validates the pipe segment and makes end e of it; the Conn
// owns seg.
func attachConn(seg *shm.Segment, e int) (*Conn, error) {
	b := seg.Bytes()
	if len(b) < pipeHeader {
		return nil, fmt.Errorf("%w: %d-byte segment", ErrPipe, len(b))
	}
	magic := binary.NativeEndian.Uint32(b[0:])
	version := binary.NativeEndian.Uint32(b[4:])
	duplex := binary.NativeEndian.Uint32(b[8:])
	rsize := int(binary.NativeEndian.Uint32(b[12:]))
	switch {
	case magic != pipeMagic:
		return nil, fmt.Errorf("%w: bad magic %#x", ErrPipe, magic)
	case version != pipeVersion:
		return nil, fmt.Errorf("%w: version %d", ErrPipe, version)
	case duplex > 1:
		return nil, fmt.Errorf("%w: duplex %d", ErrPipe, duplex)
	case e != 0 && e != 1:
		return nil, fmt.Errorf("%w: end %d", ErrPipe, e)
	}
	rings := 1 + int(duplex)
	if rsize <= 0 || rsize > (len(b)-pipeHeader)/rings {
		return nil, fmt.Errorf("%w: rings of %d bytes in a %d-byte segment", ErrPipe, rsize, len(b))
	}
	ring := func(i int) (*SPSC, error) {
		return AttachSPSC(b[pipeHeader+i*rsize : pipeHeader+(i+1)*rsize])
	}
	c := &Conn{seg: seg, end: e}
	var err error
	// Ring 0 carries end 1's messages to end 0; ring 1 the reverse.
	if e == 0 {
		if c.recv, err = ring(0); err == nil && duplex == 1 {
			c.send, err = ring(1)
		}
	} else {
		if c.send, err = ring(0); err == nil && duplex == 1 {
			c.recv, err = ring(1)
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Send sends msg as one message, waiting for room until ctx ends. It
// returns io.ErrClosedPipe once the peer (or this end) closed, and an
// error on a receive-only end.
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	bufs := [1][]byte{msg}
	return c.sendv(ctx, bufs[:], len(msg))
}

// SendBuffers sends the concatenation of bufs as one message, as Send
// would send it, without first copying it into one slice (like writev(2)
// or net.Buffers): a header and a payload kept apart, say.
func (c *Conn) SendBuffers(ctx context.Context, bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
		if uint64(total) > 1<<32-1 {
			break // send reports it
		}
	}
	return c.sendv(ctx, bufs, total)
}

// sendv sends the concatenation of bufs, total bytes, as one message: a
// first fragment with the total length, then as many as it takes. It does
// not modify bufs.
func (c *Conn) sendv(ctx context.Context, bufs [][]byte, total int) error {
	if c.send == nil {
		return errors.New("ring: Send on a receive-only Conn")
	}
	if uint64(total) > 1<<32-1 {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, total)
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.gone {
		return io.ErrClosedPipe
	}
	first, left := true, total
	b, off := 0, 0 // the next byte to send: bufs[b][off]
	for {
		slot, err := c.send.Reserve(ctx)
		if err != nil {
			return pipeErr(err, true)
		}
		flags, h := byte(0), fragHdr
		if first {
			flags, h = fragFirst, firstHdr
			binary.NativeEndian.PutUint32(slot[1:], uint32(total))
		}
		n := h
		for n < len(slot) && b < len(bufs) {
			k := stream.Copy(slot[n:], bufs[b][off:]) // streams a large piece past the cache
			n, off = n+k, off+k
			if off == len(bufs[b]) {
				b, off = b+1, 0
			}
		}
		left -= n - h
		if left == 0 {
			flags |= fragLast
		}
		slot[0] = flags
		if err := c.send.Commit(n); err != nil {
			return pipeErr(err, true)
		}
		if left == 0 {
			return nil
		}
		first = false
	}
}

// Recv receives the next message, waiting until ctx ends. It returns
// io.EOF once the peer closed and every message it sent was received.
func (c *Conn) Recv(ctx context.Context) ([]byte, error) {
	var out []byte
	_, err := c.recvMsg(ctx, func(total int) ([]byte, error) {
		out = make([]byte, 0, total)
		return out, nil
	}, &out)
	return out, err
}

// RecvInto receives the next message into buf and returns its length. If
// the message is longer than buf, it returns the message's length and an
// error matching io.ErrShortBuffer, and leaves the message to be received
// with a larger buffer.
func (c *Conn) RecvInto(ctx context.Context, buf []byte) (int, error) {
	out := buf[:0]
	return c.recvMsg(ctx, func(total int) ([]byte, error) {
		if total > len(buf) {
			return nil, ErrShortBuffer
		}
		return out, nil
	}, &out)
}

// recvMsg reassembles one message: alloc sees the total length from the
// first fragment (and may refuse it, leaving the message in place); the
// data is appended to *dst.
func (c *Conn) recvMsg(ctx context.Context, alloc func(total int) ([]byte, error), dst *[]byte) (int, error) {
	if c.recv == nil {
		return 0, errors.New("ring: Recv on a send-only Conn")
	}
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.gone {
		return 0, io.EOF
	}
	total := -1
	for {
		slot, err := c.recv.Peek(ctx)
		if err != nil {
			if total >= 0 && errors.Is(err, ErrClosed) {
				return 0, fmt.Errorf("%w: peer closed in the middle of a message", ErrPipe)
			}
			return 0, pipeErr(err, false)
		}
		if len(slot) < fragHdr {
			c.recv.Release()
			return 0, fmt.Errorf("%w: empty fragment", ErrPipe)
		}
		flags, data := slot[0], slot[fragHdr:]
		if total < 0 {
			if flags&fragFirst == 0 || len(slot) < firstHdr {
				c.recv.Release()
				return 0, fmt.Errorf("%w: message does not start with a first fragment", ErrPipe)
			}
			total = int(binary.NativeEndian.Uint32(slot[1:]))
			b, err := alloc(total)
			if err != nil {
				return total, err // message left in place
			}
			*dst = b
			data = slot[firstHdr:]
		} else if flags&fragFirst != 0 {
			c.recv.Release()
			return 0, fmt.Errorf("%w: new message inside a message", ErrPipe)
		}
		if len(*dst)+len(data) > total {
			c.recv.Release()
			return 0, fmt.Errorf("%w: fragments longer than the message", ErrPipe)
		}
		*dst = append(*dst, data...)
		c.recv.Release()
		if flags&fragLast != 0 {
			if len(*dst) != total {
				return 0, fmt.Errorf("%w: message of %d bytes says %d", ErrPipe, len(*dst), total)
			}
			return total, nil
		}
	}
}

// Poll reports whether a message (or the peer's close) is ready to
// receive, waiting until ctx ends: Python's poll with the context's
// deadline as timeout. A deadline that passes gives (false, nil); a
// cancelled context gives (false, ctx.Err()).
func (c *Conn) Poll(ctx context.Context) (bool, error) {
	if c.recv == nil {
		return false, errors.New("ring: Poll on a send-only Conn")
	}
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.gone {
		return true, nil
	}
	_, err := c.recv.Peek(ctx)
	switch {
	case err == nil:
		c.recv.unpeek()
		return true, nil
	case errors.Is(err, ErrClosed):
		return true, nil
	case errors.Is(err, context.DeadlineExceeded):
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return true, nil // a malformed message is ready to be reported by Recv
}

// Shutdown closes both directions of the pipe without unmapping this end:
// the peer's Recv returns io.EOF once it has drained what was sent, its
// Send io.ErrClosedPipe; blocked Sends and Recvs on this end wake, and
// this end's Recv still drains what the peer sent before.
func (c *Conn) Shutdown() {
	if c.send != nil {
		_ = c.send.Close()
	}
	if c.recv != nil {
		_ = c.recv.Close()
	}
}

// Close shuts the pipe down (see Shutdown), waits for Sends and Recvs in
// progress on this end to return, and unmaps it; later calls on this end
// return io.ErrClosedPipe or io.EOF. Close is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.Shutdown()
		c.closeErr = c.unmap()
	})
	return c.closeErr
}

func (c *Conn) unmap() error {
	c.sendMu.Lock()
	c.recvMu.Lock()
	defer c.sendMu.Unlock()
	defer c.recvMu.Unlock()
	c.gone = true
	return c.seg.Close()
}

// Detach unmaps this end without closing it: for a process that handed the
// end to another (which now sends and receives on it) and keeps no use for
// it. Use Close to end the conversation.
func (c *Conn) Detach() error {
	c.closeOnce.Do(func() { c.closeErr = c.unmap() })
	return c.closeErr
}

func pipeErr(err error, sending bool) error {
	if errors.Is(err, ErrClosed) {
		if sending {
			return io.ErrClosedPipe
		}
		return io.EOF
	}
	return err
}

// ConnRef is a serializable reference to one end of a Pipe.
type ConnRef struct {
	Seg shm.Ref
	End int
}

// Ref returns a reference to this end for another process.
func (c *Conn) Ref() ConnRef { return ConnRef{Seg: c.seg.Ref(), End: c.end} }

// OpenConn opens the end r refers to (see shm.OpenRef for how the segment
// is found). Hand each end to one process only: an end is one sender and
// one receiver.
func OpenConn(r ConnRef) (*Conn, error) {
	seg, err := shm.OpenRef(r.Seg, nil)
	if err != nil {
		return nil, err
	}
	c, err := attachConn(seg, r.End)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return c, nil
}

// GobEncode encodes c as its reference (package fork passes Conns to
// child processes this way). The sender should Detach its copy of the end
// once the child has it (Close would close the pipe for the child too).
func (c *Conn) GobEncode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(c.Ref())
	return b.Bytes(), err
}

// GobDecode opens the end the encoded reference names into c.
func (c *Conn) GobDecode(data []byte) error {
	var r ConnRef
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil {
		return fmt.Errorf("%w: %v", ErrPipe, err)
	}
	o, err := OpenConn(r)
	if err != nil {
		return err
	}
	c.seg, c.end, c.send, c.recv = o.seg, o.end, o.send, o.recv
	return nil
}

// unpeek forgets a Peek without consuming the message; the next Peek
// returns it again.
func (r *SPSC) unpeek() { r.cons.peeked = false }
