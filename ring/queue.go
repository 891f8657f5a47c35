package ring

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/codec"
	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Queue is a typed multi-producer, multi-consumer FIFO queue in shared
// memory, Python's multiprocessing.Queue: an MPMC ring behind a small
// header, in an anonymous segment the queue owns. Pass it to another
// process as a task argument (package fork) or through Ref and OpenQueue.
//
// Values of fixed-size pointer-free types travel raw, a memcpy each way.
// Other types go through a codec (encoding/gob unless QueueOptions says
// otherwise); an encoded value longer than the slot travels through a
// named spill segment that the receiver removes.
//
// Segment layout (version 1):
//
//	offset size field
//	0      4    magic "shmQ"
//	4      4    version 1
//	8      4    flags: bit 0 raw values, bit 1 joinable
//	12     4    unfinished: futex word, JoinableQueue's count of items
//	            put and not yet marked done
//	16     8    type fingerprint (FNV-1a of the Go type's name and size)
//	24     4    ring size in bytes
//	28..63 —    zero
//	64     …    the MPMC ring (see MPMC)
//
// A raw queue's message is the value's bytes. A codec queue's message is a
// kind byte (0: the encoding follows; 1: the name of a spill segment
// holding the encoding follows) and the data.
type Queue[T any] struct {
	seg  *shm.Segment
	hdr  *queueHeader
	r    *MPMC
	enc  codec.Of[T]
	bufs sync.Pool // receive buffers of the slot size (codec queues)
}

type queueHeader struct {
	Magic      uint32
	Version    uint32
	Flags      uint32
	Unfinished uint32
	TypeHash   uint64
	RingSize   uint32
	_          [36]byte
}

const (
	queueMagic   = 0x51686d73 // "shmQ"
	queueVersion = 1
	queueHdrSize = 64

	queueRaw      = 1
	queueJoinable = 2

	msgInline = 0
	msgSpill  = 1
)

// ErrQueue: a queue segment is malformed or holds another type.
var ErrQueue = errors.New("ring: not a queue of this type")

// ErrTaskDone: TaskDone called more times than items were put.
var ErrTaskDone = errors.New("ring: TaskDone called too many times")

// QueueOptions tune a queue. A nil *QueueOptions means the zero value.
type QueueOptions struct {
	// SlotSize is the largest encoded value kept in the ring itself, for
	// types that are not raw; zero means 1024. Raw types use their size.
	SlotSize int
	// Codec encodes values of types that are not raw; nil means codec.Gob.
	Codec codec.Codec
}

// NewQueue returns an empty queue of at least capacity items (rounded up
// to a power of two, and to at least 2).
func NewQueue[T any](capacity int) (*Queue[T], error) {
	return NewQueueOptions[T](capacity, nil)
}

// NewQueueOptions is NewQueue with options.
func NewQueueOptions[T any](capacity int, opts *QueueOptions) (*Queue[T], error) {
	return newQueue[T](capacity, opts, 0)
}

func typeHash[T any]() uint64 {
	t := reflect.TypeFor[T]()
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", t.String(), t.Size())
	return h.Sum64()
}

func newQueue[T any](capacity int, opts *QueueOptions, flags uint32) (*Queue[T], error) {
	if capacity < 1 || capacity > MaxSlots {
		return nil, fmt.Errorf("%w: capacity %d, want 1..%d", ErrGeometry, capacity, MaxSlots)
	}
	slots := 2 // an MPMC ring has at least two slots
	for slots < capacity {
		slots <<= 1
	}
	var c codec.Codec
	slotSize := 1024
	if opts != nil {
		c = opts.Codec
		if opts.SlotSize > 0 {
			slotSize = opts.SlotSize
		}
	}
	enc := codec.For[T](c)
	if enc.Raw() {
		flags |= queueRaw
		slotSize = max(enc.Size(), 1)
	} else if slotSize < 2+shm.MaxNameLen {
		slotSize = 2 + shm.MaxNameLen // room for a spill segment's name
	}
	rsize := MPMCSize(slots, slotSize)
	if rsize == 0 {
		return nil, fmt.Errorf("%w: %d slots of %d bytes", ErrGeometry, slots, slotSize)
	}
	seg, err := shm.Anonymous(int64(queueHdrSize + rsize))
	if err != nil {
		return nil, err
	}
	b := seg.Bytes()
	if _, err := NewMPMC(b[queueHdrSize:], slots, slotSize); err != nil {
		seg.Close()
		return nil, err
	}
	h, err := ctypes.View[queueHeader](b)
	if err != nil {
		seg.Close()
		return nil, err
	}
	h.Version, h.Flags, h.TypeHash, h.RingSize = queueVersion, flags, typeHash[T](), uint32(rsize)
	atomic.StoreUint32(&h.Magic, queueMagic)
	return attachQueue[T](seg, c)
}

// attachQueue validates the queue in seg, which it then owns.
func attachQueue[T any](seg *shm.Segment, c codec.Codec) (*Queue[T], error) {
	b := seg.Bytes()
	h, err := ctypes.View[queueHeader](b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQueue, err)
	}
	enc := codec.For[T](c)
	switch {
	case atomic.LoadUint32(&h.Magic) != queueMagic:
		return nil, fmt.Errorf("%w: bad magic", ErrQueue)
	case h.Version != queueVersion:
		return nil, fmt.Errorf("%w: version %d", ErrQueue, h.Version)
	case h.TypeHash != typeHash[T]():
		return nil, fmt.Errorf("%w: it holds another type than %s", ErrQueue, reflect.TypeFor[T]())
	case (h.Flags&queueRaw != 0) != enc.Raw():
		return nil, fmt.Errorf("%w: raw flag does not match %s", ErrQueue, reflect.TypeFor[T]())
	case int(h.RingSize) > len(b)-queueHdrSize || h.RingSize == 0:
		return nil, fmt.Errorf("%w: ring of %d bytes in a %d-byte segment", ErrQueue, h.RingSize, len(b))
	}
	r, err := AttachMPMC(b[queueHdrSize : queueHdrSize+int(h.RingSize)])
	if err != nil {
		return nil, err
	}
	q := &Queue[T]{seg: seg, hdr: h, r: r, enc: enc}
	size := r.SlotSize()
	q.bufs.New = func() any { b := make([]byte, size); return &b }
	return q, nil
}

// Put appends v, waiting for room until ctx ends. It returns ErrClosed
// once the queue is closed.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	if q.enc.Raw() {
		// Called directly, not through a func value, so that v does
		// not escape: no allocation per item.
		return q.r.Send(ctx, rawBytes(&v))
	}
	return q.put(v, func(msg []byte) error { return q.r.Send(ctx, msg) })
}

// TryPut appends v if there is room, or returns ErrFull.
func (q *Queue[T]) TryPut(v T) error {
	if q.enc.Raw() {
		return q.r.TrySend(rawBytes(&v))
	}
	return q.put(v, q.r.TrySend)
}

// put encodes v with the codec and sends it, through a spill segment if
// it is longer than a slot.
func (q *Queue[T]) put(v T, send func([]byte) error) error {
	msg, err := q.enc.Append([]byte{msgInline}, v)
	if err != nil {
		return err
	}
	if len(msg) <= q.r.SlotSize() {
		return send(msg)
	}
	name, err := spill(msg[1:])
	if err != nil {
		return err
	}
	if err := send(append([]byte{msgSpill}, name...)); err != nil {
		_ = shm.Unlink(name)
		return err
	}
	return nil
}

var spillSeq atomic.Uint64

// spill stores an oversized message in a new named segment: length
// (8 bytes) then data. The receiver unlinks it; if the process dies first,
// the segment records its creator, so `shmkit gc` can remove it.
func spill(data []byte) (string, error) {
	name := fmt.Sprintf("shmkit-spill-%d-%d", os.Getpid(), spillSeq.Add(1))
	seg, err := shm.Create(name, int64(8+len(data)), nil)
	if err != nil {
		return "", err
	}
	defer seg.Close()
	b := seg.Bytes()
	binary.NativeEndian.PutUint64(b, uint64(len(data)))
	copy(b[8:], data)
	return name, nil
}

func unspill(name string) ([]byte, error) {
	seg, err := shm.Open(name, &shm.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("%w: spilled message: %v", ErrQueue, err)
	}
	defer seg.Close()
	_ = shm.Unlink(name)
	b := seg.Bytes()
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: spill segment of %d bytes", ErrQueue, len(b))
	}
	n := binary.NativeEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: spill says %d bytes, holds %d", ErrQueue, n, len(b)-8)
	}
	return bytes.Clone(b[8 : 8+n]), nil
}

// Get removes and returns the oldest item, waiting until one arrives or
// ctx ends. Once the queue is closed and drained it returns ErrClosed.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	if q.enc.Raw() {
		var v T
		b := rawBytes(&v)
		n, err := q.r.Recv(ctx, b)
		return v, rawErr(n, len(b), err)
	}
	return q.get(func(buf []byte) (int, error) { return q.r.Recv(ctx, buf) })
}

// TryGet removes and returns the oldest item, or returns ErrEmpty.
func (q *Queue[T]) TryGet() (T, error) {
	if q.enc.Raw() {
		var v T
		b := rawBytes(&v)
		n, err := q.r.TryRecv(b)
		return v, rawErr(n, len(b), err)
	}
	return q.get(q.r.TryRecv)
}

// rawErr checks the length of a raw value received.
func rawErr(n, size int, err error) error {
	if err == nil && n != size {
		err = fmt.Errorf("%w: %d-byte message for a %d-byte value", ErrCorrupt, n, size)
	}
	return err
}

// get receives an encoded value and decodes it, fetching it from its
// spill segment if it was sent through one.
func (q *Queue[T]) get(recv func([]byte) (int, error)) (T, error) {
	var v T
	bp := q.bufs.Get().(*[]byte)
	defer q.bufs.Put(bp)
	n, err := recv(*bp)
	if err != nil {
		return v, err
	}
	msg := (*bp)[:n]
	if n == 0 {
		return v, fmt.Errorf("%w: empty message", ErrCorrupt)
	}
	data := msg[1:]
	switch msg[0] {
	case msgInline:
	case msgSpill:
		if data, err = unspill(string(data)); err != nil {
			return v, err
		}
	default:
		return v, fmt.Errorf("%w: message kind %d", ErrCorrupt, msg[0])
	}
	return q.enc.Decode(data)
}

// batchChunk is how many items PutBatch and GetBatch hand to the ring per
// call: their byte views live on the stack.
const batchChunk = 64

// PutBatch appends the items of vs in order, waiting for room until ctx
// ends, and returns how many it appended (len(vs) unless the error is not
// nil; errors as for Put). Each run of items that fits is claimed in the
// ring at once, so another producer's items come between runs, never
// inside one. For raw types this costs one atomic claim per run instead
// of one per item; other types are put one by one.
func (q *Queue[T]) PutBatch(ctx context.Context, vs []T) (int, error) {
	if !q.enc.Raw() {
		for i := range vs {
			if err := q.Put(ctx, vs[i]); err != nil {
				return i, err
			}
		}
		return len(vs), nil
	}
	var views [batchChunk][]byte
	sent := 0
	for sent < len(vs) {
		chunk := vs[sent:min(len(vs), sent+batchChunk)]
		for i := range chunk {
			views[i] = rawBytes(&chunk[i])
		}
		n, err := q.r.SendBatch(ctx, views[:len(chunk)])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// GetBatch removes the oldest items into vs, waiting until at least one
// arrives or ctx ends, and returns how many it removed: those waiting, up
// to len(vs). Errors are those of Get; ErrClosed only when it removed
// none. For raw types, each run of waiting items is claimed at once; other
// types are got one by one.
func (q *Queue[T]) GetBatch(ctx context.Context, vs []T) (int, error) {
	if len(vs) == 0 {
		return 0, nil
	}
	if !q.enc.Raw() {
		v, err := q.Get(ctx)
		if err != nil {
			return 0, err
		}
		vs[0] = v
		for n := 1; n < len(vs); n++ {
			if vs[n], err = q.TryGet(); err != nil {
				var zero T
				vs[n] = zero
				if err == ErrEmpty || err == ErrClosed {
					err = nil
				}
				return n, err
			}
		}
		return len(vs), nil
	}
	got := 0
	for got < len(vs) {
		chunk := vs[got:min(len(vs), got+batchChunk)]
		var views [batchChunk][]byte
		for i := range chunk {
			views[i] = rawBytes(&chunk[i])
		}
		var n int
		var err error
		if got == 0 {
			n, err = q.r.RecvBatch(ctx, views[:len(chunk)])
		} else {
			n, err = q.r.TryRecvBatch(views[:len(chunk)])
		}
		for i := range n {
			if len(views[i]) != len(rawBytes(&chunk[i])) {
				return got + i, rawErr(len(views[i]), len(rawBytes(&chunk[i])), nil)
			}
		}
		got += n
		if err != nil {
			if got > 0 && (err == ErrEmpty || err == ErrClosed) {
				return got, nil
			}
			return got, err
		}
		if n < len(chunk) {
			break
		}
	}
	return got, nil
}

// Len is the number of items queued (a snapshot).
func (q *Queue[T]) Len() int { return q.r.Len() }

// Cap is the most items the queue holds.
func (q *Queue[T]) Cap() int { return q.r.Cap() }

// Empty reports whether the queue holds no items (a snapshot).
func (q *Queue[T]) Empty() bool { return q.r.Len() == 0 }

// Close closes the queue for every process: Put returns ErrClosed at once;
// Get returns what is left, then ErrClosed. The mapping stays until Detach
// (or until the handle is garbage collected).
func (q *Queue[T]) Close() error { return q.r.Close() }

// Detach unmaps this handle; the queue lives on for other handles.
func (q *Queue[T]) Detach() error { return q.seg.Close() }

// QueueRef is a serializable reference to a queue.
type QueueRef struct{ Seg shm.Ref }

// Ref returns a reference to q for another process.
func (q *Queue[T]) Ref() QueueRef { return QueueRef{Seg: q.seg.Ref()} }

// OpenQueue opens the queue r refers to, which must hold T (ErrQueue).
func OpenQueue[T any](r QueueRef, opts *QueueOptions) (*Queue[T], error) {
	seg, err := shm.OpenRef(r.Seg, nil)
	if err != nil {
		return nil, err
	}
	var c codec.Codec
	if opts != nil {
		c = opts.Codec
	}
	q, err := attachQueue[T](seg, c)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return q, nil
}

// GobEncode encodes q as its reference (package fork passes queues to
// child processes this way). The codec is not carried: a queue with a
// custom codec should be opened with OpenQueue.
func (q *Queue[T]) GobEncode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(q.Ref())
	return b.Bytes(), err
}

// GobDecode opens the queue the encoded reference names into q.
func (q *Queue[T]) GobDecode(data []byte) error {
	var r QueueRef
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil {
		return fmt.Errorf("%w: %v", ErrQueue, err)
	}
	o, err := OpenQueue[T](r, nil)
	if err != nil {
		return err
	}
	q.seg, q.hdr, q.r, q.enc = o.seg, o.hdr, o.r, o.enc
	q.bufs.New = o.bufs.New
	return nil
}

// JoinableQueue is a Queue that counts unfinished items: Put adds one,
// TaskDone removes one, Join waits for zero (Python's JoinableQueue). A
// consumer that dies between Get and TaskDone leaves its item unfinished
// forever: bound Join with a context deadline if that can happen.
type JoinableQueue[T any] struct {
	*Queue[T]
}

// NewJoinableQueue returns an empty joinable queue.
func NewJoinableQueue[T any](capacity int, opts *QueueOptions) (*JoinableQueue[T], error) {
	q, err := newQueue[T](capacity, opts, queueJoinable)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{q}, nil
}

// Put appends v and counts it unfinished.
func (q *JoinableQueue[T]) Put(ctx context.Context, v T) error {
	atomic.AddUint32(&q.hdr.Unfinished, 1)
	if err := q.Queue.Put(ctx, v); err != nil {
		q.done()
		return err
	}
	return nil
}

// TryPut appends v if there is room and counts it unfinished.
func (q *JoinableQueue[T]) TryPut(v T) error {
	atomic.AddUint32(&q.hdr.Unfinished, 1)
	if err := q.Queue.TryPut(v); err != nil {
		q.done()
		return err
	}
	return nil
}

// PutBatch appends the items of vs (see Queue.PutBatch) and counts those
// appended unfinished.
func (q *JoinableQueue[T]) PutBatch(ctx context.Context, vs []T) (int, error) {
	atomic.AddUint32(&q.hdr.Unfinished, uint32(len(vs)))
	n, err := q.Queue.PutBatch(ctx, vs)
	for range len(vs) - n {
		q.done()
	}
	return n, err
}

// TaskDone marks one item got from the queue as finished. It returns
// ErrTaskDone if every item put is already finished.
func (q *JoinableQueue[T]) TaskDone() error {
	if !q.done() {
		return ErrTaskDone
	}
	return nil
}

func (q *JoinableQueue[T]) done() bool {
	for {
		n := atomic.LoadUint32(&q.hdr.Unfinished)
		if n == 0 {
			return false
		}
		if atomic.CompareAndSwapUint32(&q.hdr.Unfinished, n, n-1) {
			if n == 1 {
				park.Wake(&q.hdr.Unfinished, park.WakeAll)
			}
			return true
		}
	}
}

// Unfinished is the number of items put and not yet marked done.
func (q *JoinableQueue[T]) Unfinished() int { return int(atomic.LoadUint32(&q.hdr.Unfinished)) }

// Join waits until every item put has been marked done, or ctx ends.
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	for {
		n := atomic.LoadUint32(&q.hdr.Unfinished)
		if n == 0 {
			return nil
		}
		if err := park.Wait(ctx, &q.hdr.Unfinished, n, 0); err != nil {
			return err
		}
	}
}

// OpenJoinableQueue opens the joinable queue r refers to.
func OpenJoinableQueue[T any](r QueueRef, opts *QueueOptions) (*JoinableQueue[T], error) {
	q, err := OpenQueue[T](r, opts)
	if err != nil {
		return nil, err
	}
	if q.hdr.Flags&queueJoinable == 0 {
		q.Detach()
		return nil, fmt.Errorf("%w: not a joinable queue", ErrQueue)
	}
	return &JoinableQueue[T]{q}, nil
}

// GobDecode opens the joinable queue the encoded reference names into q.
func (q *JoinableQueue[T]) GobDecode(data []byte) error {
	q.Queue = new(Queue[T])
	if err := q.Queue.GobDecode(data); err != nil {
		return err
	}
	if q.hdr.Flags&queueJoinable == 0 {
		q.Detach()
		return fmt.Errorf("%w: not a joinable queue", ErrQueue)
	}
	return nil
}

// SimpleQueue is the lean queue (Python's SimpleQueue): Put, Get, Empty
// and Close, with a fixed capacity of 1024 items.
type SimpleQueue[T any] struct {
	q *Queue[T]
}

// NewSimpleQueue returns an empty SimpleQueue.
func NewSimpleQueue[T any]() (*SimpleQueue[T], error) {
	q, err := NewQueue[T](1024)
	if err != nil {
		return nil, err
	}
	return &SimpleQueue[T]{q}, nil
}

// Put appends v, waiting for room until ctx ends.
func (s *SimpleQueue[T]) Put(ctx context.Context, v T) error { return s.q.Put(ctx, v) }

// Get removes the oldest item, waiting until ctx ends.
func (s *SimpleQueue[T]) Get(ctx context.Context) (T, error) { return s.q.Get(ctx) }

// Empty reports whether the queue holds no items.
func (s *SimpleQueue[T]) Empty() bool { return s.q.Empty() }

// Close closes the queue (see Queue.Close) and unmaps this handle.
func (s *SimpleQueue[T]) Close() error { return errors.Join(s.q.Close(), s.q.Detach()) }

// GobEncode encodes s as its queue's reference.
func (s *SimpleQueue[T]) GobEncode() ([]byte, error) { return s.q.GobEncode() }

// GobDecode opens the queue the encoded reference names into s.
func (s *SimpleQueue[T]) GobDecode(data []byte) error {
	s.q = new(Queue[T])
	return s.q.GobDecode(data)
}
