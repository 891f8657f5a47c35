package locks

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/race"
)

// BarrierProcs is how many distinct processes a Barrier tracks per
// generation for dead-waiter detection. Any number of goroutines of one
// process share an entry. A waiter whose process finds the table full still
// waits correctly; only its death goes unnoticed.
const BarrierProcs = 64

// Barrier is a reusable process-shared barrier for a fixed number of parties
// (Python's Barrier). Init sets the number of parties; the zero value has
// none and Wait on it returns ErrCorrupt.
//
// Each Wait blocks until parties waiters have called it, then all return,
// each with a distinct index in [0, parties), and the barrier starts a new
// generation. The barrier breaks, and every waiter of the generation returns
// ErrBrokenBarrier, when Abort or Reset is called, when a waiter's context
// ends (that waiter gets ctx.Err()), or when a waiter's process dies while
// waiting (found within about a quarter second). Once broken, Wait fails at
// once until Reset.
//
// A process that dies between barriers, rather than at one, cannot be told
// from a slow one: bound waits with a context deadline if that can happen.
//
// Memory layout (552 bytes, 8-byte aligned):
//
//	offset size field
//	0      4    seq      futex word: generation (bits 0-30), broken (bit 31)
//	4      4    parties  set by Init
//	8      4    count    waiters arrived in this generation
//	12     4    (padding)
//	16     8    outcome  bit g%64 set: generation g ended broken, not tripped
//	24     16   mu       Mutex guarding every field but seq's reads
//	40     512  procs    [64]uint64: pid | generation<<32 of each process
//	                     with a waiter in that generation
//
// Every change is made holding mu, so a process that dies mid-change leaves
// mu owner-dead and the next waiter breaks the barrier instead of trusting
// half-made state. The trip (the last arrival bumping seq) synchronizes
// before every waiter's return.
type Barrier struct {
	seq     uint32
	parties uint32
	count   uint32
	_       uint32
	outcome uint64
	mu      Mutex
	procs   [BarrierProcs]uint64
}

const (
	barrierBroken  = 1 << 31
	barrierGenMask = barrierBroken - 1
)

// Init sets the number of parties and resets the barrier. It must not race
// with other uses. It panics if parties is not in [1, math.MaxInt32].
func (b *Barrier) Init(parties int) {
	if parties < 1 || parties > math.MaxInt32 {
		panic("locks: Barrier parties out of range")
	}
	*b = Barrier{}
	atomic.StoreUint32(&b.parties, uint32(parties))
}

// Parties is the number of waiters needed to trip the barrier.
func (b *Barrier) Parties() int { return int(atomic.LoadUint32(&b.parties) & math.MaxInt32) }

// Waiting is the number of waiters in the current generation.
func (b *Barrier) Waiting() int { return int(atomic.LoadUint32(&b.count) & math.MaxInt32) }

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken() bool { return atomic.LoadUint32(&b.seq)&barrierBroken != 0 }

// lock takes mu. A holder that died mid-change leaves the fields suspect:
// the barrier is broken (Wait callers get ErrBrokenBarrier), which every
// waiter handles, and mu is marked consistent.
func (b *Barrier) lock(ctx context.Context) (repaired bool, err error) {
	switch err := b.mu.LockContext(ctx); err {
	case nil:
		return false, nil
	case ErrOwnerDead:
		b.breakLocked()
		b.mu.MarkConsistent()
		return true, nil
	default:
		return false, err
	}
}

// lockBounded takes mu for housekeeping that may be skipped: breaking the
// barrier on behalf of a waiter that is leaving anyway. A lock word that
// garbage makes look held by a live process must not hang it.
func (b *Barrier) lockBounded() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*livenessInterval)
	defer cancel()
	return b.lock(ctx)
}

// breakLocked marks the current generation broken. Called holding mu.
func (b *Barrier) breakLocked() {
	s := atomic.LoadUint32(&b.seq)
	if s&barrierBroken != 0 {
		return
	}
	gen := s & barrierGenMask
	atomic.OrUint64(&b.outcome, 1<<(gen%64))
	atomic.StoreUint32(&b.seq, s|barrierBroken)
	park.Wake(&b.seq, park.WakeAll)
}

// Wait waits until all parties have called Wait, and returns this waiter's
// index. See the type's documentation for when it returns
// ErrBrokenBarrier; if ctx ends first, Wait breaks the barrier and returns
// ctx.Err().
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	if _, err := b.lock(ctx); err != nil {
		return 0, err
	}
	s := atomic.LoadUint32(&b.seq)
	parties, count := atomic.LoadUint32(&b.parties), atomic.LoadUint32(&b.count)
	switch {
	case s&barrierBroken != 0:
		b.mu.Unlock()
		return 0, ErrBrokenBarrier
	case parties == 0 || parties > math.MaxInt32 || count >= parties:
		b.breakLocked()
		b.mu.Unlock()
		return 0, fmt.Errorf("%w: barrier with %d parties and %d waiting", ErrCorrupt, parties, count)
	}
	gen := s & barrierGenMask
	index := int(count)
	if count+1 == parties {
		// The last arrival trips the barrier: record the outcome, start the
		// next generation, wake everyone.
		atomic.StoreUint32(&b.count, 0)
		atomic.AndUint64(&b.outcome, ^uint64(1<<(gen%64)))
		race.Release(b)
		atomic.StoreUint32(&b.seq, (gen+1)&barrierGenMask)
		b.mu.Unlock()
		park.Wake(&b.seq, park.WakeAll)
		return index, nil
	}
	atomic.StoreUint32(&b.count, count+1)
	b.register(gen)
	b.mu.Unlock()

	for {
		w := atomic.LoadUint32(&b.seq)
		if w&barrierGenMask != gen {
			if atomic.LoadUint64(&b.outcome)&(1<<(gen%64)) != 0 {
				return 0, ErrBrokenBarrier
			}
			race.Acquire(b)
			return index, nil
		}
		if w&barrierBroken != 0 {
			return 0, ErrBrokenBarrier
		}
		switch err := park.Wait(ctx, &b.seq, w, livenessInterval); err {
		case nil:
		case park.ErrTimeout:
			b.checkWaiters(gen)
		default:
			// Python breaks the barrier when a waiter times out; so do we,
			// or the others would wait for a party that left.
			if _, lerr := b.lockBounded(); lerr == nil {
				if atomic.LoadUint32(&b.seq) == w {
					b.breakLocked()
				}
				b.mu.Unlock()
			}
			if w2 := atomic.LoadUint32(&b.seq); w2&barrierGenMask != gen &&
				atomic.LoadUint64(&b.outcome)&(1<<(gen%64)) == 0 {
				race.Acquire(b)
				return index, nil // tripped as we gave up
			}
			return 0, err
		}
	}
}

var selfPid = uint32(os.Getpid())

// register records that this process has a waiter in generation gen.
// Called holding mu.
func (b *Barrier) register(gen uint32) {
	want := uint64(gen)<<32 | uint64(selfPid)
	free := -1
	for i := range b.procs {
		e := atomic.LoadUint64(&b.procs[i])
		if e == want {
			return
		}
		if free < 0 && (e == 0 || uint32(e>>32) != gen) {
			free = i
		}
	}
	if free >= 0 {
		atomic.StoreUint64(&b.procs[free], want)
	}
}

// checkWaiters breaks the barrier if a process with a waiter in gen has
// died.
func (b *Barrier) checkWaiters(gen uint32) {
	dead := false
	for i := range b.procs {
		e := atomic.LoadUint64(&b.procs[i])
		if e != 0 && uint32(e>>32) == gen && !alive(uint32(e)) {
			dead = true
			break
		}
	}
	if !dead {
		return
	}
	if _, err := b.lockBounded(); err != nil {
		return
	}
	if atomic.LoadUint32(&b.seq) == gen {
		b.breakLocked()
	}
	b.mu.Unlock()
}

// Abort breaks the barrier: current and future waiters get
// ErrBrokenBarrier until Reset.
func (b *Barrier) Abort() {
	if _, err := b.lock(context.Background()); err != nil {
		return
	}
	b.breakLocked()
	b.mu.Unlock()
}

// Reset returns the barrier to its initial, unbroken state with no
// waiters. Waiters of the current generation get ErrBrokenBarrier.
func (b *Barrier) Reset() {
	if _, err := b.lock(context.Background()); err != nil {
		return
	}
	s := atomic.LoadUint32(&b.seq)
	gen := s & barrierGenMask
	atomic.OrUint64(&b.outcome, 1<<(gen%64))
	atomic.StoreUint32(&b.count, 0)
	atomic.StoreUint32(&b.seq, (gen+1)&barrierGenMask)
	b.mu.Unlock()
	park.Wake(&b.seq, park.WakeAll)
}
