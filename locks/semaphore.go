package locks

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/race"
)

// Semaphore is a process-shared counting semaphore (Python's Semaphore).
// The zero value has a count of zero; Init sets another.
//
// A semaphore has no owner. A process that dies after Acquire and before
// Release takes its unit with it: the count stays lower by one, as with a
// POSIX semaphore. If that can happen, guard the resource with a Mutex
// (whose dead holder is detected) or re-Init the semaphore once every user
// is known to be gone.
//
// Memory layout (8 bytes, 4-byte aligned):
//
//	offset size field
//	0      4    value    futex word: the count, 0..2^31-1
//	4      4    waiters  how many processes may sleep on value (a hint:
//	                     a waiter that died stays counted, which only costs
//	                     Release a spare wake-up call)
//
// The n'th Release synchronizes before the Acquire that takes its unit.
type Semaphore struct {
	value   uint32
	waiters uint32
}

// Init sets the count to n. It must not race with other uses. It panics if
// n is negative or above math.MaxInt32.
func (s *Semaphore) Init(n int) {
	if n < 0 || n > math.MaxInt32 {
		panic("locks: Semaphore count out of range")
	}
	atomic.StoreUint32(&s.value, uint32(n))
	atomic.StoreUint32(&s.waiters, 0)
}

// Value is the current count.
func (s *Semaphore) Value() int { return int(atomic.LoadUint32(&s.value) & math.MaxInt32) }

// TryAcquire takes a unit if one is available and reports whether it did.
func (s *Semaphore) TryAcquire() bool {
	for {
		v := atomic.LoadUint32(&s.value)
		if v == 0 || v > math.MaxInt32 {
			return false
		}
		if atomic.CompareAndSwapUint32(&s.value, v, v-1) {
			race.Acquire(s)
			return true
		}
	}
}

// Acquire takes a unit, waiting for one if the count is zero, or returns
// ctx.Err() if ctx ends first.
func (s *Semaphore) Acquire(ctx context.Context) error {
	if s.TryAcquire() || spin(s.TryAcquire) {
		return nil
	}
	g, err := park.Enter(ctx, &s.value)
	if err != nil {
		return err
	}
	defer g.Leave()
	for {
		if s.TryAcquire() {
			return nil
		}
		atomic.AddUint32(&s.waiters, 1)
		err := park.Sleep(ctx, &s.value, 0, 0)
		atomic.AddUint32(&s.waiters, ^uint32(0))
		if err != nil {
			// A Release may have woken us rather than another sleeper.
			if atomic.LoadUint32(&s.value) != 0 {
				park.Wake(&s.value, 1)
			}
			return err
		}
	}
}

// Release returns a unit and wakes a waiter. It panics if the count would
// exceed math.MaxInt32.
func (s *Semaphore) Release() {
	race.Release(s)
	for {
		v := atomic.LoadUint32(&s.value)
		if v >= math.MaxInt32 {
			panic("locks: Semaphore count overflow")
		}
		if atomic.CompareAndSwapUint32(&s.value, v, v+1) {
			break
		}
	}
	s.wake()
}

func (s *Semaphore) wake() {
	// Release's increment and Acquire's waiter count are both sequentially
	// consistent: either we see the waiter, or its futex wait sees the
	// count change and does not sleep.
	if atomic.LoadUint32(&s.waiters) != 0 {
		park.Wake(&s.value, 1)
	}
}

// BoundedSemaphore is a Semaphore whose count never exceeds its initial
// value (Python's BoundedSemaphore). Its zero value has a bound of zero:
// call Init.
//
// Memory layout (12 bytes, 4-byte aligned): the Semaphore (8 bytes), then
// bound (uint32), written by Init only.
type BoundedSemaphore struct {
	Semaphore
	bound uint32
}

// Init sets the count and the bound to n.
func (b *BoundedSemaphore) Init(n int) {
	b.Semaphore.Init(n)
	atomic.StoreUint32(&b.bound, uint32(n))
}

// Bound is the initial count that Release never exceeds.
func (b *BoundedSemaphore) Bound() int { return int(atomic.LoadUint32(&b.bound) & math.MaxInt32) }

// Release returns a unit, or returns ErrOverRelease without changing the
// count when the count is already at its bound. Concurrent releases never
// push it past the bound.
func (b *BoundedSemaphore) Release() error {
	bound := atomic.LoadUint32(&b.bound)
	for {
		v := atomic.LoadUint32(&b.value)
		if v >= bound || v >= math.MaxInt32 {
			return ErrOverRelease
		}
		race.Release(&b.Semaphore)
		if atomic.CompareAndSwapUint32(&b.value, v, v+1) {
			break
		}
	}
	b.wake()
	return nil
}
