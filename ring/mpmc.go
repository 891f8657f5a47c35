package ring

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/park"
)

// MPMC is a bounded multi-producer, multi-consumer ring of messages in
// memory shared between processes (Dmitry Vyukov's bounded queue: one CAS
// per operation on a shared position, plus a sequence number per slot). Any
// number of goroutines and processes may send and receive at once.
//
// Memory layout (version 1; ControlSize + slots*stride bytes, starting on a
// 64-byte boundary; stride = 16 + slotSize rounded up to a multiple of 8;
// slots >= 2):
//
//	offset         size     field
//	0              128      header: as for SPSC, with kind 2
//	128            8        tail      next position to claim for writing,
//	                                  bit 63 closed; CAS by producers (and
//	                                  atomic OR by Close)
//	256            8        head      next position to claim for reading;
//	                                  CAS by consumers
//	384            4        notEmpty  futex word: receivers sleep here
//	388            4        notFull   futex word: senders sleep here
//	512+i*stride   stride   slot i:   +0  seq   uint64
//	                                  +8  len   uint32 (<= slotSize)
//	                                  +12 owner uint32
//	                                  +16 payload, slotSize bytes (+ padding)
//
// (sendPid and recvPid, at 136 and 264, are zero in an MPMC ring.)
// len and owner form one 64-bit word, meta = len | owner<<32, always written
// whole with an atomic store.
//
// Slot states, for the slot of position p (slot p % slots); NewMPMC sets
// seq of slot i to i:
//
//	seq == p          free: the producer of position p may write it
//	seq == p+1        published: the consumer of position p may read it
//	seq == p+slots    released: free for the producer of p+slots
//
// Send: load tail t; if seq of slot t is t, claim t with CAS(tail, t, t+1);
// store meta = len | tag<<32; copy the payload; publish with
// CAS(seq, t, t+1) (release). seq == t-slots or t-slots+1 means the ring
// is full (the previous round's message is being written or is unread).
// Recv: load head h; if seq of slot h is h+1, read meta (a message too
// long for the caller's buffer is left in place: ErrShortBuffer), claim h
// with CAS(head, h, h+1); swap meta to the consumer's tag; copy the
// payload; release with CAS(seq, h+1, h+slots). The publication of a slot
// synchronizes before its receive; a release synchronizes before the next
// send into the slot. A batch claims k consecutive ready slots with one
// CAS of tail or head, then handles each slot as above. After publishing
// or releasing, a side runs the waker's step of the sleep protocol (see
// "Wait words" under SPSC). A receiver goes to sleep only if its re-check
// finds the slot at head waiting for a producer (seq == h, or h-slots+1)
// and the ring not both closed and drained (tail == h); a sender only if
// the ring is open and the slot at tail holds t-slots or t-slots+1.
//
// Owner tags record who holds a claimed slot, for recovery from a process
// that dies holding one:
//
//	bits 0-21   pid of the claimant
//	bit 22      0 producer, 1 consumer
//	bits 23-30  (position / slots) % 256: the round the claim is for
//	0xFFFFFFFF  poisoned: the producer of this round died; no message
//
// A consumer that has waited livenessAfter (a quarter second) on a slot
// that is claimed (tail > h) but not published looks at its owner: if it is
// this round's producer tag and that process is gone, or if no tag of this
// round appeared within unknownOwnerAfter (2 s: the producer died between
// its CAS and its store of meta), it poisons the slot: CAS(meta, old,
// 0xFFFFFFFF<<32), then CAS(seq, h, h+1). The consumer that claims it gets
// ErrProducerDied, and the ring goes on. A producer that has waited as long
// on a full slot whose message was claimed (head > p-slots) but not
// released does the same for a dead consumer: it releases the slot with
// CAS(seq, p-slots+1, p); that message is lost (it was received by a
// process that died before handing it on).
type MPMC struct {
	core
	words   []uint64 // the slot area as 64-bit words
	stride8 int      // stride / 8
}

// Owner tags.
const (
	tagPid      = maxPid - 1
	tagConsumer = 1 << 22
	tagRoundSh  = 23
	ownerPoison = 0xFFFFFFFF
)

// errInProgress: the next position is claimed by a producer that has not
// published yet. Receive calls report it as ErrEmpty.
var errInProgress = errors.New("ring: message in progress")

// MPMCSize returns the number of bytes an MPMC ring with this geometry
// occupies, or 0 if the geometry is out of range: slots must be a power of
// two in [2, MaxSlots] and slotSize in [1, MaxSlotSize].
func MPMCSize(slots, slotSize int) int {
	return ringSize(mpmcSlotHeader, 2, slots, slotSize)
}

// NewMPMC initializes an empty MPMC ring of slots slots holding messages of
// up to slotSize bytes at the start of mem, and returns a handle on it.
// mem must start on a 64-byte boundary and hold MPMCSize(slots, slotSize)
// bytes. NewMPMC must not race with any other use of the memory; other
// processes then call AttachMPMC.
//
// It returns ErrGeometry, ErrShortMemory or ErrAlignment when it cannot.
func NewMPMC(mem []byte, slots, slotSize int) (*MPMC, error) {
	k, err := initCore(mem, kindMPMC, mpmcSlotHeader, 2, slots, slotSize)
	if err != nil {
		return nil, err
	}
	r, err := newMPMC(k)
	if err != nil {
		return nil, err
	}
	for i := range uint64(slots) {
		j := r.index(i)
		atomic.StoreUint64(&r.words[j], i)
		atomic.StoreUint64(&r.words[j+1], 0)
	}
	k.publishHeader()
	return r, nil
}

// AttachMPMC returns a handle on the MPMC ring that NewMPMC initialized at
// the start of mem, after validating its header, with the errors of
// AttachSPSC.
func AttachMPMC(mem []byte) (*MPMC, error) {
	k, err := attachCore(mem, kindMPMC, mpmcSlotHeader, 2)
	if err != nil {
		return nil, err
	}
	return newMPMC(k)
}

func newMPMC(k core) (*MPMC, error) {
	words, err := ctypes.Slice[uint64](k.slotArea, len(k.slotArea)/8)
	if err != nil {
		return nil, ErrAlignment
	}
	return &MPMC{core: k, words: words, stride8: k.stride / 8}, nil
}

// Cap is the number of slots: the most messages the ring holds.
func (r *MPMC) Cap() int { return int(r.slots) }

// SlotSize is the largest message the ring carries, in bytes.
func (r *MPMC) SlotSize() int { return r.slotSize }

// Len is the number of messages in the ring, counting those being written
// or read right now. It is a snapshot, stale as soon as it returns.
func (r *MPMC) Len() int { return r.length() }

// Closed reports whether the ring has been closed.
func (r *MPMC) Closed() bool { return r.closed() }

// Close closes the ring for every process that uses it: senders get
// ErrClosed from then on; receivers receive what is left, then get
// ErrClosed. Every sleeping sender and receiver, in any process, is woken.
// Close is idempotent and always returns nil; it does not release the
// memory, which belongs to the caller.
//
// Close is exact: a send that claimed its slot before Close is received;
// one that had not fails with ErrClosed (the closed flag lives in the word
// producers claim through).
func (r *MPMC) Close() error {
	r.close()
	return nil
}

// index returns the index in words of the seq of position pos's slot; its
// meta follows.
func (r *MPMC) index(pos uint64) int { return int(pos&r.mask) * r.stride8 }

// payload returns the payload bytes of position pos's slot.
func (r *MPMC) payload(pos uint64) []byte {
	off := int(pos&r.mask)*r.stride + mpmcSlotHeader
	return r.slotArea[off : off+r.slotSize : off+r.slotSize]
}

// tag is this process's owner tag for a claim of position pos.
func (r *MPMC) tag(pos uint64, role uint32) uint32 {
	return pid | role | uint32(pos>>r.shift&0xff)<<tagRoundSh
}

// claimSend claims up to n (1 <= n <= slots) consecutive free positions
// with one CAS of tail. Errors: ErrClosed, ErrFull, ErrCorrupt.
func (r *MPMC) claimSend(n int) (pos uint64, k int, err error) {
	stale := ^uint64(0)
	for {
		raw := atomic.LoadUint64(&r.c.tail)
		if raw&closedBit != 0 {
			return 0, 0, ErrClosed
		}
		pos = raw
		seq := atomic.LoadUint64(&r.words[r.index(pos)])
		switch {
		case seq == pos:
			k = 1
			for k < n && atomic.LoadUint64(&r.words[r.index(pos+uint64(k))]) == pos+uint64(k) {
				k++
			}
			if atomic.CompareAndSwapUint64(&r.c.tail, pos, pos+uint64(k)) {
				raceAcquire(&r.words[r.index(pos)])
				return pos, k, nil
			}
		case seq == pos-r.slots+1 || seq == pos-r.slots:
			// The previous round's message is unread, or still being
			// written.
			return pos, 0, ErrFull
		case int64(seq-pos) > 0 && pos != stale:
			stale = pos // another producer took pos: look again
		default:
			return 0, 0, ErrCorrupt
		}
	}
}

// fill writes msg into the claimed position pos and publishes it.
func (r *MPMC) fill(pos uint64, msg []byte) error {
	i := r.index(pos)
	atomic.StoreUint64(&r.words[i+1], uint64(r.tag(pos, 0))<<32|uint64(len(msg)))
	copy(r.payload(pos), msg)
	raceRelease(&r.words[i])
	if !atomic.CompareAndSwapUint64(&r.words[i], pos, pos+1) {
		// Only a consumer that took this process for dead changes seq
		// before the publication: the message is lost.
		return ErrCorrupt
	}
	return nil
}

// TrySend sends msg if a slot is free: ErrFull if none is, ErrClosed after
// Close, ErrTooLarge if msg is longer than SlotSize.
func (r *MPMC) TrySend(msg []byte) error {
	if len(msg) > r.slotSize {
		return ErrTooLarge
	}
	pos, _, err := r.claimSend(1)
	if err != nil {
		return err
	}
	err = r.fill(pos, msg)
	wake(&r.c.notEmpty)
	return err
}

// Send sends msg, waiting while the ring is full. It returns ErrClosed after
// Close (at once, or when Close wakes it), ErrTooLarge if msg is longer than
// SlotSize, and ctx.Err() if ctx ends first.
func (r *MPMC) Send(ctx context.Context, msg []byte) error {
	err := r.TrySend(msg)
	if err != ErrFull {
		return err
	}
	var w waiter
	_, err = block(ErrFull, func() error { return r.waitSend(ctx, &w) },
		func() (struct{}, error) { return struct{}{}, r.TrySend(msg) })
	return err
}

// TrySendBatch sends the longest prefix of msgs that fits in the free
// slots and returns how many it sent: with a nil error when that is all of
// them, ErrFull when the ring filled first, ErrTooLarge when msgs[n] is
// longer than SlotSize, ErrClosed after Close. The messages are claimed
// with one CAS and stay consecutive in the ring. ErrCorrupt means a
// consumer took this process for dead while it held a slot (see MPMC): of
// the n messages counted, those whose slots it reclaimed are lost.
func (r *MPMC) TrySendBatch(msgs [][]byte) (int, error) {
	n := min(len(msgs), int(r.slots))
	for i := range n {
		if len(msgs[i]) > r.slotSize {
			n = i
			break
		}
	}
	if n == 0 {
		if len(msgs) == 0 {
			return 0, nil
		}
		return 0, ErrTooLarge
	}
	pos, k, err := r.claimSend(n)
	if err != nil {
		return 0, err
	}
	var lost error
	for i := range k {
		if err := r.fill(pos+uint64(i), msgs[i]); err != nil {
			lost = err
		}
	}
	wake(&r.c.notEmpty)
	switch {
	case lost != nil:
		return k, lost
	case k == len(msgs):
		return k, nil
	case len(msgs[k]) > r.slotSize:
		return k, ErrTooLarge
	}
	return k, ErrFull
}

// SendBatch sends every message of msgs in order, waiting while the ring
// is full, claiming each run of messages that fits with one CAS. It
// returns how many it sent, which is len(msgs) unless the error is not nil
// (errors as for Send). Messages of other producers may come between runs.
func (r *MPMC) SendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	k, err := r.TrySendBatch(msgs)
	if err != ErrFull {
		return k, err
	}
	var w waiter
	return sendBatch(&w, k, func() error { return r.waitSend(ctx, &w) },
		func(i int) (int, error) { return r.TrySendBatch(msgs[i:]) })
}

// waitSend waits for a consumer to free the slot at tail: it spins, then
// sleeps, and recovers the slot from a dead consumer. nil means "try
// again".
func (r *MPMC) waitSend(ctx context.Context, w *waiter) error {
	if w.spin(ctx) {
		// Retry once there is room a little way ahead too, or the ring
		// changed; spinning stays bounded as before.
		t := atomic.LoadUint64(&r.c.tail)
		for !r.roomAhead(t) && w.spin(ctx) {
		}
		return nil
	}
	r.observeSend(w)
	err := w.sleep(ctx, &r.c.notFull, r.sendReady)
	if err != park.ErrTimeout {
		return err
	}
	r.sendStalled(w)
	return nil
}

// observeSend records the state a sender waits on (tail and its slot's
// seq) in w, which measures how long it stays unchanged.
func (r *MPMC) observeSend(w *waiter) {
	t := atomic.LoadUint64(&r.c.tail)
	w.observe(t, atomic.LoadUint64(&r.words[r.index(t)]), 0)
}

// sendStalled runs after a sender's sleep timed out: if the slot at tail
// has been held by the same consumer for livenessAfter and that consumer
// is gone, it releases the slot (the message is lost) and wakes senders.
func (r *MPMC) sendStalled(w *waiter) {
	t := atomic.LoadUint64(&r.c.tail)
	pos := t & posMask
	i := r.index(pos)
	seq := atomic.LoadUint64(&r.words[i])
	stuck := w.observe(t, seq, 0)
	prev := pos - r.slots
	if t&closedBit != 0 || pos < r.slots || seq != prev+1 || stuck < livenessAfter ||
		atomic.LoadUint64(&r.c.head) <= prev {
		return // not a slot held by a consumer: the ring is just full
	}
	meta := atomic.LoadUint64(&r.words[i+1])
	if !r.ownerGone(uint32(meta>>32), prev, tagConsumer, stuck) {
		return
	}
	// The consumer of prev died holding it: release the slot for it.
	if atomic.CompareAndSwapUint64(&r.words[i], prev+1, pos) {
		wake(&r.c.notFull)
	}
}

// roomAhead is the spinning sender's test before it retries on a full
// ring: whether the slot roomAhead positions past tail t is free as well
// (or tail moved, or the ring closed). Retrying as soon as the slot at tail
// is free would claim each slot the moment its consumer releases it, on
// the cache line the consumer is still working through, and the line
// would bounce between the two for every message; keeping a few cache
// lines of distance lets both sides stream (through a Queue[int] across
// processes on a two-core VM: 55-65 instead of 95-105 ns per message when
// the two cores share a cache, 110-130 instead of 145-160 when not).
// It only delays retries while spinning: a sender about to sleep re-checks
// the slot at tail itself (sendReady).
func (r *MPMC) roomAhead(t uint64) bool {
	d := max(1, uint64(roomBytes/r.stride))
	if d > r.slots/4 {
		return true // too small a ring to keep a distance
	}
	return atomic.LoadUint64(&r.c.tail) != t || t&closedBit != 0 ||
		atomic.LoadUint64(&r.words[r.index(t+d)]) == t+d
}

// roomBytes is how many bytes of slots past tail a sender spinning on a
// full ring waits to be free before it retries.
const roomBytes = 2048

// sendReady is the sender's re-check before sleeping, from fresh loads: it
// reports false only when the slot at tail is in a state that a consumer's
// release ends (its previous message is being written or is unread), and
// true otherwise — free, closed, or tail moved on while we looked — so the
// caller tries again.
func (r *MPMC) sendReady() bool {
	t := atomic.LoadUint64(&r.c.tail)
	if t&closedBit != 0 {
		return true
	}
	q := atomic.LoadUint64(&r.words[r.index(t)])
	return q != t-r.slots && q != t-r.slots+1
}

// recvReady is the receiver's re-check before sleeping, from fresh loads:
// it reports false only when the slot at head waits for a producer (seq ==
// head: not yet claimed or not yet published; seq == head-slots+1: its
// previous reader has not released it) and the ring is not closed and
// drained; otherwise — published, closed and drained, or head moved on
// while we looked — the caller tries again. (Testing only "is it
// published?" would sleep on a stale head: model_test.go found that.)
func (r *MPMC) recvReady() bool {
	h := atomic.LoadUint64(&r.c.head)
	q := atomic.LoadUint64(&r.words[r.index(h)])
	if q != h && q != h-r.slots+1 {
		return true
	}
	t := atomic.LoadUint64(&r.c.tail)
	return t&closedBit != 0 && t&posMask == h
}

// ownerGone reports whether the claim of position pos in the given role,
// stuck for the given time, belongs to a process that is gone.
func (r *MPMC) ownerGone(owner uint32, pos uint64, role uint32, stuck time.Duration) bool {
	if owner != ownerPoison && owner&tagPid != 0 && owner&^tagPid == r.tag(pos, role)&^tagPid {
		return !alive(owner & tagPid)
	}
	// No tag of this claim: its owner stopped between claiming and
	// recording itself.
	return stuck >= unknownOwnerAfter
}

// claimRecv claims up to len(bufs) (at most slots) consecutive published
// positions with one CAS of head, stopping before a message that does not
// fit its buffer (len(bufs[i]), or its capacity if useCap) and before a
// poisoned or corrupt one unless it is the first. Errors: ErrEmpty,
// errInProgress, ErrClosed, ErrShortBuffer (with need, the length of the
// first message), ErrCorrupt.
func (r *MPMC) claimRecv(bufs [][]byte, useCap bool) (pos uint64, k, need int, err error) {
	stale := ^uint64(0)
	for {
		pos = atomic.LoadUint64(&r.c.head)
		seq := atomic.LoadUint64(&r.words[r.index(pos)])
		switch {
		case seq == pos+1:
			k, need, err = r.ready(pos, bufs, useCap)
			if err != nil {
				return pos, 0, need, err
			}
			if atomic.CompareAndSwapUint64(&r.c.head, pos, pos+uint64(k)) {
				return pos, k, 0, nil
			}
		case seq == pos || seq == pos-r.slots+1:
			raw := atomic.LoadUint64(&r.c.tail)
			t := raw & posMask
			switch {
			case t == pos && raw&closedBit != 0:
				return pos, 0, 0, ErrClosed
			case t == pos:
				return pos, 0, 0, ErrEmpty
			case t > pos && t-pos <= r.slots && seq == pos:
				return pos, 0, 0, errInProgress
			case pos != stale:
				// The slot moved on between our loads of seq and tail
				// (its previous reader released it, a producer claimed
				// it): look again.
				stale = pos
				continue
			}
			return 0, 0, 0, ErrCorrupt
		case int64(seq-(pos+1)) > 0 && pos != stale:
			stale = pos // another consumer took pos: look again
		default:
			return 0, 0, 0, ErrCorrupt
		}
	}
}

// ready counts the published positions from pos whose messages fit bufs.
func (r *MPMC) ready(pos uint64, bufs [][]byte, useCap bool) (k, need int, err error) {
	n := min(len(bufs), int(r.slots))
	for k < n {
		p := pos + uint64(k)
		i := r.index(p)
		if k > 0 && atomic.LoadUint64(&r.words[i]) != p+1 {
			break
		}
		meta := atomic.LoadUint64(&r.words[i+1])
		l := uint32(meta)
		if uint32(meta>>32) == ownerPoison || l > uint32(r.slotSize) {
			if k == 0 {
				k = 1 // claim it alone, to report it
			}
			break
		}
		room := len(bufs[k])
		if useCap {
			room = cap(bufs[k])
		}
		if int(l) > room {
			if k == 0 {
				return 0, int(l), ErrShortBuffer
			}
			break
		}
		k++
	}
	return k, 0, nil
}

// take reads the claimed position pos into buf and releases its slot.
func (r *MPMC) take(pos uint64, buf []byte) (int, error) {
	i := r.index(pos)
	raceAcquire(&r.words[i])
	meta := atomic.SwapUint64(&r.words[i+1], uint64(r.tag(pos, tagConsumer))<<32)
	n, err := 0, error(nil)
	switch l := uint32(meta); {
	case uint32(meta>>32) == ownerPoison:
		err = ErrProducerDied
	case l > uint32(r.slotSize) || int(l) > len(buf):
		err = ErrCorrupt
	default:
		n = copy(buf, r.payload(pos)[:l])
	}
	raceRelease(&r.words[i])
	if !atomic.CompareAndSwapUint64(&r.words[i], pos+1, pos+r.slots) {
		// A producer took this process for dead and reclaimed the slot
		// while we read it: what we read may be torn.
		return 0, ErrCorrupt
	}
	return n, err
}

// TryRecv receives the next message into buf and returns its length:
// ErrEmpty if there is none (or the next one is still being written),
// ErrClosed if there is none and the ring is closed. If the message is
// longer than buf it stays in the ring and TryRecv returns its length with
// ErrShortBuffer. A message whose producer died before publishing it is
// reported, once, as ErrProducerDied; one whose recorded length is
// impossible is consumed and reported as ErrCorrupt.
func (r *MPMC) TryRecv(buf []byte) (int, error) {
	bufs := [1][]byte{buf}
	pos, _, need, err := r.claimRecv(bufs[:], false)
	if err != nil {
		if err == errInProgress {
			err = ErrEmpty
		}
		return need, err
	}
	n, err := r.take(pos, buf)
	wake(&r.c.notFull)
	return n, err
}

// Recv receives the next message into buf, waiting while the ring is
// empty, and returns its length. Errors are those of TryRecv (ErrEmpty
// excepted), and ctx.Err() if ctx ends first.
func (r *MPMC) Recv(ctx context.Context, buf []byte) (int, error) {
	n, err := r.TryRecv(buf)
	if err != ErrEmpty {
		return n, err
	}
	var w waiter
	return block(ErrEmpty, func() error { return r.waitRecv(ctx, &w) },
		func() (int, error) { return r.TryRecv(buf) })
}

// TryRecvBatch receives up to len(bufs) waiting messages, claimed with one
// CAS, and returns how many it received: message i is copied into bufs[i],
// which is resliced to the message's length within its capacity (so the
// same bufs can be passed again). It stops early at a message longer than
// cap(bufs[i]); if that is the first one it returns 0, ErrShortBuffer and
// leaves the message in the ring. Other errors are those of TryRecv; an
// error after the first message (only garbage in shared memory causes
// one) comes with the count of messages received before it.
func (r *MPMC) TryRecvBatch(bufs [][]byte) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	pos, k, _, err := r.claimRecv(bufs, true)
	if err != nil {
		if err == errInProgress {
			err = ErrEmpty
		}
		return 0, err
	}
	got := 0
	var first error
	for i := range k {
		b := bufs[i][:cap(bufs[i])]
		n, err := r.take(pos+uint64(i), b)
		if first != nil {
			continue // release the rest of the claim
		}
		if err != nil {
			first = err
			continue
		}
		bufs[i] = b[:n]
		got++
	}
	wake(&r.c.notFull)
	return got, first
}

// RecvBatch is TryRecvBatch that waits while the ring is empty: it returns
// at least one message unless the error is not nil (errors as for Recv).
func (r *MPMC) RecvBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := r.TryRecvBatch(bufs)
	if err != ErrEmpty {
		return n, err
	}
	var w waiter
	return block(ErrEmpty, func() error { return r.waitRecv(ctx, &w) },
		func() (int, error) { return r.TryRecvBatch(bufs) })
}

// waitRecv waits for a producer to publish the slot at head: it spins,
// then sleeps, and poisons the slot of a producer that died holding it.
// nil means "try again".
func (r *MPMC) waitRecv(ctx context.Context, w *waiter) error {
	if w.spin(ctx) {
		return nil
	}
	r.observeRecv(w)
	err := w.sleep(ctx, &r.c.notEmpty, r.recvReady)
	if err != park.ErrTimeout {
		return err
	}
	r.recvStalled(w)
	return nil
}

// observeRecv records the state a receiver waits on (head, its slot's seq,
// tail) in w, which measures how long it stays unchanged.
func (r *MPMC) observeRecv(w *waiter) {
	h := atomic.LoadUint64(&r.c.head)
	w.observe(h, atomic.LoadUint64(&r.words[r.index(h)]), atomic.LoadUint64(&r.c.tail))
}

// recvStalled runs after a receiver's sleep timed out: if the slot at head
// has been claimed and not published for livenessAfter by a producer that
// is gone (or by one that never recorded itself, for unknownOwnerAfter),
// it poisons the slot, so that the consumer that claims it reports
// ErrProducerDied and moves on, and wakes receivers.
func (r *MPMC) recvStalled(w *waiter) {
	h := atomic.LoadUint64(&r.c.head)
	i := r.index(h)
	seq := atomic.LoadUint64(&r.words[i])
	t := atomic.LoadUint64(&r.c.tail)
	stuck := w.observe(h, seq, t)
	if seq != h || t&posMask <= h || stuck < livenessAfter {
		return // not a claimed slot: the ring is just empty
	}
	meta := atomic.LoadUint64(&r.words[i+1])
	if !r.ownerGone(uint32(meta>>32), h, 0, stuck) {
		return
	}
	if atomic.CompareAndSwapUint64(&r.words[i+1], meta, ownerPoison<<32) &&
		atomic.CompareAndSwapUint64(&r.words[i], h, h+1) {
		wake(&r.c.notEmpty)
	}
}
