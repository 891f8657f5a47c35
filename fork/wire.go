package fork

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The parent and a worker talk over a unix stream socket (the worker's
// descriptor 3) in frames:
//
//	offset size
//	0      1    type: frameRequest, frameResult, frameCancel, frameReady
//	1      4    payload length, little endian
//	5      n    payload: a gob-encoded request or result; none for cancel
//
// Descriptors travel as SCM_RIGHTS with a frame's header. The worker first
// says it is ready (its runtime is up); the parent sends one request, with
// the descriptors of the segments the worker inherits, then perhaps more
// segments (frameAdopt, acknowledged by frameAdopted: a pool worker runs
// tasks that refer to segments made after it started) and perhaps a
// cancel; the worker sends one result. Either side seeing the
// other's end close knows the other is gone: the worker then exits, which
// is how a child dies with its parent without PR_SET_PDEATHSIG (whose
// signal follows the spawning OS thread, not the process: golang/go#27505).
const (
	frameRequest = 1
	frameResult  = 2
	frameCancel  = 3
	frameReady   = 4 // worker to parent, first thing: the runtime is up
	frameAdopt   = 5 // parent to worker: more segments (descriptors attached)
	frameAdopted = 6 // worker to parent: the segments of a frameAdopt are known

	maxFrame   = 1 << 30
	maxFds     = 250 // SCM_MAX_FD is 253
	headerSize = 5
)

// request is what a worker needs to run a task.
type request struct {
	Task      string
	Name      string
	Method    Method
	ParentPid int
	Arg       []byte
	Segments  []inheritedSegment // one per descriptor sent with the frame, in order
}

type inheritedSegment struct {
	PID  int
	ID   uint64
	Name string
	Size int64
}

// result is what the worker reports back.
type result struct {
	Value []byte
	Err   *RemoteError
}

var errFrame = errors.New("fork: malformed frame")

func writeFrame(c *net.UnixConn, typ byte, v any, fds []int) error {
	var payload []byte
	if v != nil {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(v); err != nil {
			return fmt.Errorf("fork: encoding frame: %w", err)
		}
		payload = b.Bytes()
	}
	if len(fds) > maxFds {
		return fmt.Errorf("fork: %d descriptors to pass, at most %d", len(fds), maxFds)
	}
	var hdr [headerSize]byte
	hdr[0] = typ
	binary.LittleEndian.PutUint32(hdr[1:], uint32(len(payload)))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(hdr[:], oob, nil)
	if err != nil {
		return err
	}
	if n < headerSize {
		if _, err := c.Write(hdr[n:]); err != nil {
			return err
		}
	}
	_, err = c.Write(payload)
	return err
}

// readFrame reads one frame and the descriptors sent with it. It returns
// io.EOF when the peer closed between frames.
func readFrame(c *net.UnixConn) (typ byte, payload []byte, fds []int, err error) {
	var hdr [headerSize]byte
	oob := make([]byte, unix.CmsgSpace(4*maxFds))
	n, oobn, _, _, err := c.ReadMsgUnix(hdr[:], oob)
	if n == 0 && err == nil {
		err = io.EOF
	}
	if oobn > 0 {
		fds, err = parseRights(oob[:oobn], err)
	}
	if err != nil {
		closeAll(fds)
		return 0, nil, nil, err
	}
	if n < headerSize {
		if _, err := io.ReadFull(c, hdr[n:]); err != nil {
			closeAll(fds)
			return 0, nil, nil, io.ErrUnexpectedEOF
		}
	}
	size := binary.LittleEndian.Uint32(hdr[1:])
	if size > maxFrame || hdr[0] < frameRequest || hdr[0] > frameAdopted {
		closeAll(fds)
		return 0, nil, nil, fmt.Errorf("%w: type %d, %d bytes", errFrame, hdr[0], size)
	}
	payload = make([]byte, size)
	if _, err := io.ReadFull(c, payload); err != nil {
		closeAll(fds)
		return 0, nil, nil, io.ErrUnexpectedEOF
	}
	return hdr[0], payload, fds, nil
}

func parseRights(oob []byte, err error) ([]int, error) {
	msgs, perr := unix.ParseSocketControlMessage(oob)
	if perr != nil {
		return nil, errors.Join(err, perr)
	}
	var fds []int
	for _, m := range msgs {
		f, perr := unix.ParseUnixRights(&m)
		if perr != nil {
			closeAll(fds)
			return nil, errors.Join(err, perr)
		}
		fds = append(fds, f...)
	}
	return fds, err
}

func decodeFrame(payload []byte, v any) error {
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errFrame, err)
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// connFromFd turns an inherited socket descriptor into a connection.
func connFromFd(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "fork-socket")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("fork: descriptor %d is not a unix socket", fd)
	}
	return uc, nil
}
