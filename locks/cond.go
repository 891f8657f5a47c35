package locks

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/race"
)

// Cond is a process-shared condition variable used with a Mutex (Python's
// Condition). The zero value is ready to use.
//
// Signal and Broadcast grant wake-up tokens: Signal one, Broadcast one per
// current waiter. Each token releases exactly one waiter, so Signal wakes
// one waiter and Broadcast all that were waiting. A waiter that arrives
// after a Signal may take the token before an older waiter does, as POSIX
// allows. Always wait in a loop on the predicate.
//
// A waiter that dies still counts as waiting. A token granted to it is
// taken by the next Wait, which then returns without a new signal (a
// spurious wake-up). Signal and Broadcast never block on a dead waiter.
//
// Memory layout (16 bytes, 8-byte aligned):
//
//	offset size field
//	0      4    seq      futex word; incremented by every Signal and
//	                     Broadcast so sleepers wake and look for a token
//	4      4    (padding)
//	8      8    state    bits 0-31 waiters, bits 32-63 tokens; changed
//	                     only by compare-and-swap; tokens <= waiters
type Cond struct {
	seq   uint32
	_     uint32
	state uint64
}

func condWaiters(s uint64) uint32 { return uint32(s) }
func condTokens(s uint64) uint32  { return uint32(s >> 32) }
func condState(w, t uint32) uint64 {
	return uint64(t)<<32 | uint64(w)
}

// Wait unlocks m, waits for Signal or Broadcast, and locks m again before
// returning. The caller must hold m. If m's holder died meanwhile, Wait
// marks it consistent (see Mutex.Lock); use WaitContext to see that.
func (c *Cond) Wait(m *Mutex) {
	switch err := c.WaitContext(context.Background(), m); err {
	case nil:
	case ErrOwnerDead:
		m.MarkConsistent()
	default:
		panic("locks: Cond.Wait: " + err.Error())
	}
}

// WaitContext is Wait with cancellation. It always returns holding m, with
// ctx.Err() if ctx ended the wait, ErrOwnerDead if relocking m found its
// holder dead (repair, then MarkConsistent), ErrCorrupt (without waiting)
// if the Cond's words hold garbage, or nil.
func (c *Cond) WaitContext(ctx context.Context, m *Mutex) error {
	for {
		s := atomic.LoadUint64(&c.state)
		if condWaiters(s) == ^uint32(0) {
			return ErrCorrupt // garbage: no process has 2^32 waiters
		}
		if atomic.CompareAndSwapUint64(&c.state, s, condState(condWaiters(s)+1, condTokens(s))) {
			break
		}
	}
	m.Unlock()
	err := c.await(ctx)
	if lerr := m.LockContext(context.Background()); lerr != nil {
		if lerr == ErrNotRecoverable {
			panic("locks: Cond.WaitContext: relock: " + lerr.Error())
		}
		if err == nil {
			err = lerr
		}
	}
	return err
}

// await waits for a token. Each check of the tokens is preceded by a read of
// seq, and every grant is followed by an increment of seq and a wake-up, so
// a grant after the check makes the futex wait return at once.
func (c *Cond) await(ctx context.Context) error {
	take := func() bool {
		for {
			s := atomic.LoadUint64(&c.state)
			w, t := condWaiters(s), condTokens(s)
			if t == 0 || w == 0 {
				return false
			}
			if atomic.CompareAndSwapUint64(&c.state, s, condState(w-1, t-1)) {
				race.Acquire(c)
				return true
			}
		}
	}
	if spin(take) {
		return nil
	}
	for {
		seq := atomic.LoadUint32(&c.seq)
		if take() {
			return nil
		}
		if err := park.Wait(ctx, &c.seq, seq, 0); err != nil {
			return c.leave(err)
		}
	}
}

// leave withdraws a cancelled waiter. If every remaining waiter already has
// a token, one of them is ours: take it and report success, so no grant is
// lost.
func (c *Cond) leave(err error) error {
	for {
		s := atomic.LoadUint64(&c.state)
		w, t := condWaiters(s), condTokens(s)
		if w == 0 {
			return err // state was reset under us
		}
		if t >= w {
			if atomic.CompareAndSwapUint64(&c.state, s, condState(w-1, t-1)) {
				race.Acquire(c)
				return nil
			}
			continue
		}
		if atomic.CompareAndSwapUint64(&c.state, s, condState(w-1, t)) {
			return err
		}
	}
}

// Signal wakes one waiter, if there is one without a token. The caller need
// not hold the mutex.
func (c *Cond) Signal() {
	race.Release(c)
	for {
		s := atomic.LoadUint64(&c.state)
		w, t := condWaiters(s), condTokens(s)
		if t >= w {
			return
		}
		if atomic.CompareAndSwapUint64(&c.state, s, condState(w, t+1)) {
			break
		}
	}
	c.wake()
}

// Broadcast wakes every current waiter.
func (c *Cond) Broadcast() {
	race.Release(c)
	for {
		s := atomic.LoadUint64(&c.state)
		w, t := condWaiters(s), condTokens(s)
		if t >= w {
			return
		}
		if atomic.CompareAndSwapUint64(&c.state, s, condState(w, w)) {
			break
		}
	}
	c.wake()
}

func (c *Cond) wake() {
	atomic.AddUint32(&c.seq, 1)
	// Every process's sleeper must look: the token may be for any of them.
	park.Wake(&c.seq, park.WakeAll)
}
