// Package park is the waiting policy shared by shmkit's futex-based
// primitives: sleep on a shared futex word with context cancellation and
// deadlines, without letting many goroutines of one process each hold an OS
// thread in the kernel.
//
// A goroutine blocked in futex(2) pins its thread: 10,000 goroutines waiting
// on one word would need 10,000 threads, and Go stops at its thread limit
// (10,000 by default). park coalesces them. Per process and per word, at
// most one goroutine sleeps in the kernel; the others park on Go channels,
// which costs no thread. Two disciplines cover the primitives:
//
//   - Wait (broadcast): the kernel sleeper's return releases every parked
//     waiter of that word, and each re-checks its condition. Every change of
//     a word waited on this way must be followed by Wake(addr, WakeAll),
//     since one kernel sleeper stands for a whole process.
//   - Gate (hand-off): local waiters for a word queue FIFO behind a gate and
//     only the gate holder contends across processes. Suited to mutexes and
//     semaphores, where one wake-up admits one waiter.
//
// The futex contract applies throughout: a return means "look at the word
// again", never "the condition holds"; wake-ups may be spurious.
package park

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
	"golang.org/x/sys/unix"
)

// WakeAll wakes every waiter.
const WakeAll = sys.WakeAll

// ErrTimeout is returned by Wait when its timeout, not the context, ended
// the sleep.
var ErrTimeout = errors.New("park: timeout")

// Wake wakes at most n sleepers on the word at addr.
func Wake(addr *uint32, n int) {
	_, _ = sys.FutexWake(addr, n)
}

// sleeper coalesces one process's waiters on one word.
type sleeper struct {
	refs   int
	active bool          // a goroutine is in the kernel for this word
	done   chan struct{} // closed when that goroutine returns
}

var (
	sleepersMu sync.Mutex
	sleepers   = map[uintptr]*sleeper{}
)

// Wait sleeps while *addr == val, until a wake-up, ctx is done, or timeout
// (if positive) passes. It returns nil for any wake-up (spurious ones
// included: re-check the word), ctx.Err() when the context ended the wait,
// and ErrTimeout when the timeout did.
func Wait(ctx context.Context, addr *uint32, val uint32, timeout time.Duration) error {
	if atomic.LoadUint32(addr) != val {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	key := addrKey(addr)
	sleepersMu.Lock()
	s := sleepers[key]
	if s == nil {
		s = &sleeper{}
		sleepers[key] = s
	}
	s.refs++
	if s.active {
		ch := s.done
		sleepersMu.Unlock()
		err := parkOn(ctx, ch, timeout)
		release(key, s)
		return err
	}
	s.active = true
	s.done = make(chan struct{})
	sleepersMu.Unlock()

	err := Sleep(ctx, addr, val, timeout)

	sleepersMu.Lock()
	s.active = false
	close(s.done)
	sleepersMu.Unlock()
	release(key, s)
	return err
}

func release(key uintptr, s *sleeper) {
	sleepersMu.Lock()
	s.refs--
	if s.refs == 0 {
		delete(sleepers, key)
	}
	sleepersMu.Unlock()
}

func parkOn(ctx context.Context, ch <-chan struct{}, timeout time.Duration) error {
	var tc <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-tc:
		return ErrTimeout
	}
}

// Sleep is one uncoalesced kernel sleep: FUTEX_WAIT on addr while it holds
// val, bounded by ctx and timeout (if positive). Results as for Wait.
//
// Cancellation: a context.AfterFunc wakes every sleeper on the word (the
// kernel cannot wake one chosen thread) and repeats until this sleep has
// returned, which closes the window where the cancel fires between the
// check and the syscall. The other sleepers see a spurious wake-up.
func Sleep(ctx context.Context, addr *uint32, val uint32, timeout time.Duration) error {
	deadline, hasDeadline := ctx.Deadline()
	if timeout > 0 {
		if d := time.Now().Add(timeout); !hasDeadline || d.Before(deadline) {
			deadline, hasDeadline = d, true
		}
	}
	var stop func() bool
	var returned atomic.Bool
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		stop = context.AfterFunc(ctx, func() {
			for wait := 20 * time.Microsecond; !returned.Load(); wait = min(2*wait, 10*time.Millisecond) {
				Wake(addr, WakeAll)
				time.Sleep(wait)
			}
		})
	}
	var ts *unix.Timespec
	if hasDeadline {
		rem := time.Until(deadline)
		if rem <= 0 {
			return expired(ctx)
		}
		t := sys.Timespec(rem)
		ts = &t
	}
	err := sys.FutexWait(addr, val, ts)
	returned.Store(true)
	if stop != nil {
		stop()
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err == unix.ETIMEDOUT || (hasDeadline && !time.Now().Before(deadline)) {
		return expired(ctx)
	}
	return nil // woken, EAGAIN (word changed) or EINTR: re-check
}

// expired tells a context deadline (which the context itself may not have
// noticed yet) from the caller's own timeout.
func expired(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return ErrTimeout
}

// Gate serializes one process's waiters on one word.
type Gate struct {
	key uintptr
	g   *gate
}

type gate struct {
	refs int
	ch   chan struct{} // capacity 1: holding the gate is having sent
}

var (
	gatesMu sync.Mutex
	gates   = map[uintptr]*gate{}
)

// Enter waits, FIFO among this process's goroutines, to hold the gate of the
// word at addr. It returns ctx.Err() if the context ends first.
func Enter(ctx context.Context, addr *uint32) (Gate, error) {
	key := addrKey(addr)
	gatesMu.Lock()
	g := gates[key]
	if g == nil {
		g = &gate{ch: make(chan struct{}, 1)}
		gates[key] = g
	}
	g.refs++
	gatesMu.Unlock()
	select {
	case g.ch <- struct{}{}:
		return Gate{key, g}, nil
	default:
	}
	select {
	case g.ch <- struct{}{}:
		return Gate{key, g}, nil
	case <-ctx.Done():
		unref(key, g)
		return Gate{}, ctx.Err()
	}
}

// Leave releases the gate to the next local waiter.
func (g Gate) Leave() {
	<-g.g.ch
	unref(g.key, g.g)
}

func unref(key uintptr, g *gate) {
	gatesMu.Lock()
	g.refs--
	if g.refs == 0 {
		delete(gates, key)
	}
	gatesMu.Unlock()
}
