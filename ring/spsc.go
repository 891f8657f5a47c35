package ring

import (
	"context"
	"encoding/binary"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/release"
	"github.com/shmkit/shmkit/internal/stream"
)

// SPSC is a bounded single-producer, single-consumer ring of messages in
// memory shared between processes: one sender and one receiver at a time,
// which may be goroutines of one process or of two.
//
// Memory layout (version 2; ControlSize + slots*stride bytes, starting on a
// 64-byte boundary; stride = 8 + slotSize rounded up to a multiple of 8):
//
//	offset         size     field
//	0              128      header: magic "shmR", version 2, kind 1, slots,
//	                        slotSize, stride, size (see below)
//	128            8        tail      next position to write; written by the
//	                                  producer only
//	136            4        sendPid   pid of the process that last sent
//	256            8        head      next position to read; written by the
//	                                  consumer
//	264            4        recvPid   pid of the process that last received
//	384            4        notEmpty  futex word: receivers sleep here
//	388            4        notFull   futex word: senders sleep here
//	392            4        closed    0 open, 1 closed (set by Close)
//	512            stride   slot 0
//	512+i*stride   stride   slot i:   +0 len (uint32, <= slotSize)
//	                                  +4 mark (uint32, see below)
//	                                  +8 payload, slotSize bytes (+ padding)
//
// The header line (offsets 0-127) is, field by field:
//
//	0 magic uint32 | 4 version uint32 | 8 kind uint32 | 12 slots uint32 |
//	16 slotSize uint32 | 20 stride uint32 | 24 size uint64 | 32-127 zero
//
// The 128-byte lines starting at 128, 256 and 384 are each written by one
// party (producer, consumer, sleepers and their wakers and Close), so their
// writes never contend for a cache line; the rest of each line is zero.
//
// Positions count messages from 0 and never wrap (63 bits); position p
// lives in slot p % slots. Invariant: head <= tail <= head + slots.
//
// Marks. A slot's mark says what the slot holds for the position the
// consumer will read there next:
//
//	2*uint32(p)+1   ready: position p's message is published (always odd)
//	2               poisoned: the ring is closed and the consumer found
//	                position p unpublished; nothing will be published there
//	anything else   free (0 in a new ring; ready(p-slots) after a lap)
//
// Protocol. The producer reads head (acquire) only when its cached copy
// shows no room, writes len and payload into slot t % slots, and publishes
// with a compare-and-swap of the slot's mark from free (0 on the first lap,
// ready(t-slots) after) to ready(t); then it stores t+1 into tail (a
// release store, not a locked instruction: no one but the producer writes
// tail, and the consumer does not read it to find messages). The
// consumer watches the mark of the slot at head, never tail: it sees
// ready(h), reads len once, checks it against slotSize, copies the
// payload, and publishes head+1 (sequentially consistent). The mark's
// compare-and-swap by the n'th send synchronizes before the receive that
// reads it; the receive of message n synchronizes before the send that
// reuses its slot. The producer thus writes only lines the consumer is not
// reading (its slot, tail) except the slot the consumer waits on, and
// makes one locked instruction per send.
//
// Close sets closed and wakes every sleeper. A consumer that finds the
// mark at head not ready and the ring closed poisons that mark with a
// compare-and-swap: if the producer's compare-and-swap came first, the
// message is there and is received; otherwise the producer's fails and its
// Send returns ErrClosed. So every Send either publishes a message that a
// receiver will get or returns ErrClosed, whatever the timing.
//
// Both publications are followed by the waker's step of the sleep protocol
// (see wait.go and the package documentation): a receiver sleeps on
// notEmpty, re-checking the mark at head and closed; a sender on notFull,
// re-checking closed and the positions. The mark's compare-and-swap is the
// sender's sequentially consistent publication that step needs.
//
// Wait words (notEmpty, notFull; shared futexes, never FUTEX_PRIVATE_FLAG):
// bit 0 set means a waiter may be asleep on the word; bits 1-31 count
// wake-ups. After each publication (of a mark, head, or in MPMC a slot's
// seq), the publisher loads the other side's word and, if bit 0 is set,
// CASes it from v to v+1 (clearing the bit, bumping the count) and issues
// FUTEX_WAKE for all. A waiter sets bit 0 by CAS (v to v|1), re-checks the
// ring with fresh loads, and only then calls FUTEX_WAIT(word, v|1),
// preferably with a timeout after which it looks again. Close sets closed,
// then bumps both words (v to (v|1)+1) and wakes all.
//
// After publishing, the producer writes the length word of the next slot,
// if it is free, to take that slot's cache line from the consumer's cache
// early; the consumer never reads a slot's length before its mark is
// ready, so any value may be there.
//
// A batch (SendBatch, RecvBatch) publishes its run of messages with one
// locked instruction: the marks after the first are stored first, then the
// first one's compare-and-swap publishes them all (the consumer reads marks
// in order); a receiver releases a run with one update of head.
// Reserve/Commit and Peek/Release write and read a slot in place.
//
// Methods on the producer side (Send, TrySend, SendBatch, TrySendBatch,
// Reserve, TryReserve, Commit) must be called by one goroutine at a time,
// as must those on the consumer side (Recv, TryRecv, RecvBatch,
// TryRecvBatch, Peek, TryPeek, Release); the two sides may run
// concurrently, in one process or two. Len, Cap, SlotSize, Closed and Close
// may be called by anyone.
type SPSC struct {
	core
	marks   []uint32 // the slot area as 32-bit words (see mark)
	stride4 int      // stride in 32-bit words
	_       [lineSize]byte
	prod    spscProducer
	_       [lineSize]byte
	cons    spscConsumer
}

// spscProducer is the producer's process-local state.
type spscProducer struct {
	head     uint64 // the consumer's position when last read: a lower bound
	resPos   uint64 // the position reserved by Reserve
	reserved bool
	pidSet   bool
}

// spscConsumer is the consumer's process-local state.
type spscConsumer struct {
	peekPos uint64 // the position returned by Peek
	peeked  bool
	pidSet  bool
}

// SPSCSize returns the number of bytes an SPSC ring with this geometry
// occupies, or 0 if the geometry is out of range: slots must be a power of
// two in [1, MaxSlots] and slotSize in [1, MaxSlotSize].
func SPSCSize(slots, slotSize int) int {
	return ringSize(spscSlotHeader, 1, slots, slotSize)
}

// NewSPSC initializes an empty SPSC ring of slots slots holding messages of
// up to slotSize bytes at the start of mem, and returns a handle on it.
// mem must start on a 64-byte boundary (shared-memory segments do; see
// ctypes.AlignOffset for other memory) and hold SPSCSize(slots, slotSize)
// bytes. NewSPSC must not race with any other use of the memory; other
// processes then call AttachSPSC.
//
// It returns ErrGeometry, ErrShortMemory or ErrAlignment when it cannot.
func NewSPSC(mem []byte, slots, slotSize int) (*SPSC, error) {
	k, err := initCore(mem, kindSPSC, spscSlotHeader, 1, slots, slotSize)
	if err != nil {
		return nil, err
	}
	r, err := newSPSC(k)
	if err != nil {
		return nil, err
	}
	// Marks left by an earlier ring in this memory could read as ready.
	// One word per slot: a fresh segment's untouched pages stay untouched
	// beyond each slot's first one.
	for i := range uint64(slots) {
		*r.mark(i) = 0 // NewSPSC runs before any other use of mem
	}
	k.publishHeader()
	return r, nil
}

// AttachSPSC returns a handle on the SPSC ring that NewSPSC initialized at
// the start of mem, after validating its header: ErrShortMemory,
// ErrAlignment, ErrBadMagic, ErrVersion, ErrKind or ErrGeometry when mem
// does not hold a ring this package can use. The geometry is read once,
// here; a later change of the header in shared memory has no effect on
// the handle.
func AttachSPSC(mem []byte) (*SPSC, error) {
	k, err := attachCore(mem, kindSPSC, spscSlotHeader, 1)
	if err != nil {
		return nil, err
	}
	return newSPSC(k)
}

// newSPSC returns the handle on the ring whose geometry k holds.
func newSPSC(k core) (*SPSC, error) {
	w, err := ctypes.Slice[uint32](k.slotArea, len(k.slotArea)/4)
	if err != nil {
		return nil, ErrAlignment
	}
	return &SPSC{core: k, marks: w, stride4: k.stride / 4}, nil
}

// markPoison is the mark of a slot the consumer closed (see Marks above).
const markPoison = 2

// mark returns the mark word of position pos's slot.
func (r *SPSC) mark(pos uint64) *uint32 { return &r.marks[int(pos&r.mask)*r.stride4+1] }

// markReady is the mark that publishes position pos: odd, so never free in
// a new ring and never poisoned; distinct from markReady(pos-slots) since
// slots < 2^31.
func markReady(pos uint64) uint32 { return uint32(pos)<<1 | 1 }

// markFree is the mark position pos's slot holds before pos is published.
func (r *SPSC) markFree(pos uint64) uint32 {
	if pos < r.slots {
		return 0
	}
	return markReady(pos - r.slots)
}

// Cap is the number of slots: the most messages the ring holds.
func (r *SPSC) Cap() int { return int(r.slots) }

// SlotSize is the largest message the ring carries, in bytes.
func (r *SPSC) SlotSize() int { return r.slotSize }

// Len is the number of messages sent and not yet received. It is a
// snapshot, stale as soon as it returns.
func (r *SPSC) Len() int { return r.length() }

// Closed reports whether the ring has been closed.
func (r *SPSC) Closed() bool { return atomic.LoadUint32(&r.c.closed) != 0 }

// Close closes the ring for every process that uses it: senders get
// ErrClosed from then on; receivers receive what is left, then get
// ErrClosed. Every sleeping sender and receiver, in any process, is woken.
// Close is idempotent and always returns nil; it does not release the
// memory, which belongs to the caller.
//
// A Send that races with Close either publishes its message, which a
// receiver then gets, or fails with ErrClosed: a receiver that finds the
// ring closed and empty claims the next slot's mark before the sender can
// publish there (see the protocol above).
func (r *SPSC) Close() error {
	atomic.StoreUint32(&r.c.closed, 1)
	bump(&r.c.notEmpty)
	bump(&r.c.notFull)
	return nil
}

// slot returns slot pos % slots: its header and payload.
func (r *SPSC) slot(pos uint64) []byte {
	off := int(pos&r.mask) * r.stride
	return r.slotArea[off : off+r.stride : off+r.stride]
}

// space returns the enqueue position and how many slots are free, reading
// head only when the cached copy shows none. Errors: ErrClosed, ErrFull,
// ErrCorrupt.
func (r *SPSC) space() (t, free uint64, err error) {
	if atomic.LoadUint32(&r.c.closed) != 0 {
		return 0, 0, ErrClosed
	}
	t = atomic.LoadUint64(&r.c.tail)
	h := r.prod.head
	if t-h >= r.slots { // full by the cache, or the cache is not a lower bound
		h = atomic.LoadUint64(&r.c.head)
		if h > t || t-h > r.slots {
			return 0, 0, ErrCorrupt
		}
		raceAcquire(&r.c.head)
		r.prod.head = h
		if t-h == r.slots {
			return 0, 0, ErrFull
		}
	}
	return t, r.slots - (t - h), nil
}

// put writes msg into the slot of position t.
func (r *SPSC) put(t uint64, msg []byte) {
	s := r.slot(t)
	binary.NativeEndian.PutUint32(s, uint32(len(msg)))
	stream.Copy(s[spscSlotHeader:], msg) // streams a large message past the cache
}

// publish makes positions [t, t+n) visible to the consumer: the marks
// after the first, then the first one's compare-and-swap (the consumer
// reads marks in order, so that publishes them all), then tail.
func (r *SPSC) publish(t, n uint64) error {
	if !r.prod.pidSet {
		atomic.StoreUint32(&r.c.sendPid, pid)
		r.prod.pidSet = true
	}
	raceRelease(&r.c.tail)
	for p := t + 1; p < t+n; p++ {
		// Plain stores (atomic in race builds): the compare-and-swap
		// below orders them, and the compiler keeps stores before an
		// atomic operation.
		if race.Enabled {
			atomic.StoreUint32(r.mark(p), markReady(p))
		} else {
			*r.mark(p) = markReady(p)
		}
	}
	m := r.mark(t)
	if !atomic.CompareAndSwapUint32(m, r.markFree(t), markReady(t)) {
		// Only a consumer that found the ring closed writes a mark
		// besides the producer.
		if atomic.LoadUint32(m) == markPoison {
			return ErrClosed
		}
		return ErrCorrupt
	}
	release.Store64(&r.c.tail, t+n)
	wake(&r.c.notEmpty)
	return nil
}

// TrySend sends msg if a slot is free: ErrFull if none is, ErrClosed after
// Close, ErrTooLarge if msg is longer than SlotSize. It cancels a pending
// Reserve.
func (r *SPSC) TrySend(msg []byte) error {
	if len(msg) > r.slotSize {
		return ErrTooLarge
	}
	t, free, err := r.space()
	if err != nil {
		return err
	}
	r.prod.reserved = false
	r.put(t, msg)
	err = r.publish(t, 1)
	if free > 1 && err == nil {
		r.claimLine(t + 1)
	}
	return err
}

// claimLine writes the length word of the free slot of position t, which
// the producer fills next: the write takes the slot's cache line from the
// consumer's cache (where it has been since the consumer read that slot a
// lap ago) now, while the producer has nothing better to do, rather than
// in the next Send, where the fence of the CAS on tail would wait for it.
// The consumer does not read the slot until it is published.
func (r *SPSC) claimLine(t uint64) {
	binary.NativeEndian.PutUint32(r.slot(t), 0)
}

// Send sends msg, waiting while the ring is full. It returns ErrClosed after
// Close (at once, or when Close wakes it), ErrTooLarge if msg is longer than
// SlotSize, ctx.Err() if ctx ends first, and ErrConsumerDied if the ring
// stays full and the process that last received from it is gone.
func (r *SPSC) Send(ctx context.Context, msg []byte) error {
	err := r.TrySend(msg)
	if err != ErrFull {
		return err
	}
	var w waiter
	_, err = block(ErrFull, func() error { return r.waitSend(ctx, &w) },
		func() (struct{}, error) { return struct{}{}, r.TrySend(msg) })
	return err
}

// waitSend waits for the consumer to free a slot: it spins, then sleeps.
// nil means "try again".
func (r *SPSC) waitSend(ctx context.Context, w *waiter) error {
	return r.wait(ctx, w, &r.c.notFull, r.sendReady, &r.c.recvPid, ErrConsumerDied)
}

// wait is one wait of a blocking call on either side: it spins, then
// sleeps on word with the re-check ready, and after a sleep that timed out
// it checks the peer, whose pid is at peerPid (see stalled). nil means
// "try again".
func (r *SPSC) wait(ctx context.Context, w *waiter, word *uint32, ready func() bool, peerPid *uint32, died error) error {
	if w.spin(ctx) {
		return nil
	}
	r.observe(w)
	err := w.sleep(ctx, word, ready)
	if err != park.ErrTimeout {
		return err
	}
	return r.stalled(w, peerPid, died)
}

// observe records the positions in w, which measures how long they stay
// unchanged.
func (r *SPSC) observe(w *waiter) {
	w.observe(atomic.LoadUint64(&r.c.tail), atomic.LoadUint64(&r.c.head), 0)
}

// stalled runs after a sleep timed out: died if the positions have not
// moved for livenessAfter and the peer process whose pid is at peerPid (the
// last to receive, for a sender; to send, for a receiver) is gone, else nil
// ("try again").
func (r *SPSC) stalled(w *waiter, peerPid *uint32, died error) error {
	r.observe(w)
	if w.stuck() >= livenessAfter {
		if p := atomic.LoadUint32(peerPid); p != 0 && !alive(p) {
			return died
		}
	}
	return nil
}

// sendStalled is stalled for a sender: ErrConsumerDied.
func (r *SPSC) sendStalled(w *waiter) error {
	return r.stalled(w, &r.c.recvPid, ErrConsumerDied)
}

// sendReady is the sender's re-check before sleeping: whether a slot is
// free or the ring closed, from fresh loads of both positions.
func (r *SPSC) sendReady() bool {
	return atomic.LoadUint32(&r.c.closed) != 0 ||
		atomic.LoadUint64(&r.c.tail)-atomic.LoadUint64(&r.c.head) < r.slots
}

// TrySendBatch sends the longest prefix of msgs that fits in the free
// slots, publishing it with one update, and returns how many it sent: with
// a nil error when that is all of them, ErrFull when the ring filled
// first, ErrTooLarge when msgs[n] is longer than SlotSize, ErrClosed after
// Close. It cancels a pending Reserve.
func (r *SPSC) TrySendBatch(msgs [][]byte) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if len(msgs[0]) > r.slotSize {
		return 0, ErrTooLarge
	}
	t, free, err := r.space()
	if err != nil {
		return 0, err
	}
	r.prod.reserved = false
	k := min(free, uint64(len(msgs)))
	var stop error
	for i := range k {
		if len(msgs[i]) > r.slotSize {
			k, stop = i, ErrTooLarge
			break
		}
		r.put(t+i, msgs[i])
	}
	if err := r.publish(t, k); err != nil {
		return 0, err
	}
	if free > k {
		r.claimLine(t + k)
	}
	if stop == nil && int(k) < len(msgs) {
		stop = ErrFull
	}
	return int(k), stop
}

// SendBatch sends every message of msgs in order, waiting while the ring
// is full; each run of messages that fits is published with one update. It
// returns how many it sent, which is len(msgs) unless the error is not nil
// (errors as for Send; ErrTooLarge stops at the message too long).
func (r *SPSC) SendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	k, err := r.TrySendBatch(msgs)
	if err != ErrFull {
		return k, err
	}
	var w waiter
	return sendBatch(&w, k, func() error { return r.waitSend(ctx, &w) },
		func(i int) (int, error) { return r.TrySendBatch(msgs[i:]) })
}

// TryReserve returns the next free slot's payload, SlotSize bytes, for the
// caller to write a message into in place and send with Commit: ErrFull if
// no slot is free, ErrClosed after Close. Nothing is sent until Commit; a
// second Reserve before Commit returns the same slot, and Send, TrySend,
// SendBatch and TrySendBatch cancel the reservation (and write that slot).
// The slice is valid until Commit or a cancelling call.
func (r *SPSC) TryReserve() ([]byte, error) {
	t, _, err := r.space()
	if err != nil {
		return nil, err
	}
	r.prod.reserved, r.prod.resPos = true, t
	s := r.slot(t)
	return s[spscSlotHeader : spscSlotHeader+r.slotSize : spscSlotHeader+r.slotSize], nil
}

// Reserve is TryReserve that waits while the ring is full, with the errors
// of Send.
func (r *SPSC) Reserve(ctx context.Context) ([]byte, error) {
	b, err := r.TryReserve()
	if err != ErrFull {
		return b, err
	}
	var w waiter
	return block(ErrFull, func() error { return r.waitSend(ctx, &w) },
		r.TryReserve)
}

// Commit sends the first n bytes of the reserved slot as a message. It
// returns ErrClosed if the ring was closed since Reserve (the message is
// not sent). It panics if no reservation is pending or n is not in
// [0, SlotSize].
func (r *SPSC) Commit(n int) error {
	if !r.prod.reserved {
		panic("ring: Commit without Reserve")
	}
	if n < 0 || n > r.slotSize {
		panic("ring: Commit length out of range")
	}
	r.prod.reserved = false
	if atomic.LoadUint32(&r.c.closed) != 0 {
		return ErrClosed // closed since Reserve, which checked (sends check in space)
	}
	t := r.prod.resPos
	binary.NativeEndian.PutUint32(r.slot(t), uint32(n))
	if err := r.publish(t, 1); err != nil {
		return err
	}
	if t+1-r.prod.head < r.slots { // free by the cached head, a lower bound
		r.claimLine(t + 1)
	}
	return nil
}

// avail returns the dequeue position and how many published messages
// follow it, up to max (at least 1). A single receive reads the mark at
// head only; a batch first reads tail, which the producer stores after
// the marks it covers, and falls back to the mark when tail says nothing
// is there yet. Errors: ErrEmpty, ErrClosed (empty and closed),
// ErrCorrupt.
func (r *SPSC) avail(max int) (h, n uint64, err error) {
	h = atomic.LoadUint64(&r.c.head)
	if max > 1 {
		// tail may trail head: a receive through the mark can overtake
		// the producer's store of tail.
		if t := atomic.LoadUint64(&r.c.tail); t > h {
			if t-h > r.slots {
				return 0, 0, ErrCorrupt
			}
			raceAcquire(&r.c.tail)
			return h, min(t-h, uint64(max)), nil
		}
	}
	if atomic.LoadUint32(r.mark(h)) == markReady(h) {
		raceAcquire(&r.c.tail)
		return h, 1, nil
	}
	if atomic.LoadUint32(&r.c.closed) == 0 {
		return 0, 0, ErrEmpty
	}
	// Closed and empty so far: poison the mark at head so that no Send
	// publishes there from now on, unless one just did.
	m := r.mark(h)
	if v := atomic.LoadUint32(m); v != markReady(h) && v != markPoison {
		atomic.CompareAndSwapUint32(m, v, markPoison)
	}
	switch atomic.LoadUint32(m) {
	case markPoison:
		return 0, 0, ErrClosed
	case markReady(h):
		raceAcquire(&r.c.tail)
		return h, 1, nil
	}
	return 0, 0, ErrCorrupt // another process rewrites the mark
}

// message returns the message at position h in place, after reading its
// length once and checking it against the slot size.
func (r *SPSC) message(h uint64) ([]byte, error) {
	s := r.slot(h)
	n := binary.NativeEndian.Uint32(s)
	if n > uint32(r.slotSize) {
		return nil, ErrCorrupt
	}
	return s[spscSlotHeader : spscSlotHeader+int(n) : spscSlotHeader+int(n)], nil
}

// consume frees positions [h, h+n) for the producer.
func (r *SPSC) consume(h, n uint64) {
	if !r.cons.pidSet {
		atomic.StoreUint32(&r.c.recvPid, pid)
		r.cons.pidSet = true
	}
	raceRelease(&r.c.head)
	atomic.StoreUint64(&r.c.head, h+n)
	wake(&r.c.notFull)
}

// TryRecv receives the next message into buf and returns its length:
// ErrEmpty if there is none, ErrClosed if there is none and the ring is
// closed. If the message is longer than buf it stays in the ring and
// TryRecv returns its length with ErrShortBuffer. A message whose recorded
// length is impossible is consumed and reported as ErrCorrupt. TryRecv
// cancels a pending Peek.
func (r *SPSC) TryRecv(buf []byte) (int, error) {
	h, _, err := r.avail(1)
	if err != nil {
		return 0, err
	}
	r.cons.peeked = false
	msg, err := r.message(h)
	if err != nil {
		r.consume(h, 1)
		return 0, err
	}
	if len(msg) > len(buf) {
		return len(msg), ErrShortBuffer
	}
	n := copy(buf, msg)
	r.consume(h, 1)
	return n, nil
}

// Recv receives the next message into buf, waiting while the ring is
// empty, and returns its length. Besides the errors of TryRecv (ErrEmpty
// excepted), it returns ctx.Err() if ctx ends first and ErrProducerDied if
// the ring stays empty and the process that last sent on it is gone.
func (r *SPSC) Recv(ctx context.Context, buf []byte) (int, error) {
	n, err := r.TryRecv(buf)
	if err != ErrEmpty {
		return n, err
	}
	var w waiter
	return block(ErrEmpty, func() error { return r.waitRecv(ctx, &w) },
		func() (int, error) { return r.TryRecv(buf) })
}

// waitRecv waits for the producer to publish: it spins, then sleeps. nil
// means "try again".
func (r *SPSC) waitRecv(ctx context.Context, w *waiter) error {
	return r.wait(ctx, w, &r.c.notEmpty, r.recvReady, &r.c.sendPid, ErrProducerDied)
}

// recvStalled is stalled for a receiver: ErrProducerDied.
func (r *SPSC) recvStalled(w *waiter) error {
	return r.stalled(w, &r.c.sendPid, ErrProducerDied)
}

// recvReady is the receiver's re-check before sleeping: whether a message
// is there or the ring closed, from fresh loads of head, the mark at head
// and closed.
func (r *SPSC) recvReady() bool {
	h := atomic.LoadUint64(&r.c.head)
	return atomic.LoadUint32(r.mark(h)) == markReady(h) || atomic.LoadUint32(&r.c.closed) != 0
}

// TryRecvBatch receives up to len(bufs) waiting messages, releasing their
// slots with one update, and returns how many it received: message i is
// copied into bufs[i], which is resliced to the message's length within
// its capacity (so the same bufs can be passed again). It stops early at a
// message longer than cap(bufs[i]); if that is the first one it returns
// 0, ErrShortBuffer and leaves the message in the ring (receive it with
// Recv or Peek). Other errors are those of TryRecv. It cancels a pending
// Peek.
func (r *SPSC) TryRecvBatch(bufs [][]byte) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	h, avail, err := r.avail(len(bufs))
	if err != nil {
		return 0, err
	}
	r.cons.peeked = false
	k := min(avail, uint64(len(bufs)))
	var got uint64
	for ; got < k; got++ {
		msg, err := r.message(h + got)
		if err != nil {
			if got == 0 {
				r.consume(h, 1)
				return 0, err
			}
			break
		}
		b := bufs[got][:cap(bufs[got])]
		if len(msg) > len(b) {
			if got == 0 {
				return 0, ErrShortBuffer
			}
			break
		}
		bufs[got] = b[:copy(b, msg)]
	}
	r.consume(h, got)
	return int(got), nil
}

// RecvBatch is TryRecvBatch that waits while the ring is empty: it returns
// at least one message unless the error is not nil (errors as for Recv).
func (r *SPSC) RecvBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := r.TryRecvBatch(bufs)
	if err != ErrEmpty {
		return n, err
	}
	var w waiter
	return block(ErrEmpty, func() error { return r.waitRecv(ctx, &w) },
		func() (int, error) { return r.TryRecvBatch(bufs) })
}

// TryPeek returns the next message in place, without consuming it:
// ErrEmpty if there is none, ErrClosed if there is none and the ring is
// closed, ErrCorrupt (consuming it) if its length is impossible. Release
// consumes it. A second Peek before Release returns the same message;
// Recv, TryRecv, RecvBatch and TryRecvBatch cancel the peek (and receive
// that message).
//
// The slice aliases shared memory and is valid until Release or a
// cancelling call. The producer does not write a slot it has published, but
// a hostile process could: copy what must not change under you.
func (r *SPSC) TryPeek() ([]byte, error) {
	h, _, err := r.avail(1)
	if err != nil {
		return nil, err
	}
	msg, err := r.message(h)
	if err != nil {
		r.cons.peeked = false
		r.consume(h, 1)
		return nil, err
	}
	r.cons.peeked, r.cons.peekPos = true, h
	return msg, nil
}

// Peek is TryPeek that waits while the ring is empty, with the errors of
// Recv.
func (r *SPSC) Peek(ctx context.Context) ([]byte, error) {
	b, err := r.TryPeek()
	if err != ErrEmpty {
		return b, err
	}
	var w waiter
	return block(ErrEmpty, func() error { return r.waitRecv(ctx, &w) },
		r.TryPeek)
}

// Release consumes the message returned by Peek, freeing its slot for the
// producer. It panics if no Peek is pending.
func (r *SPSC) Release() {
	if !r.cons.peeked {
		panic("ring: Release without Peek")
	}
	r.cons.peeked = false
	r.consume(r.cons.peekPos, 1)
}
