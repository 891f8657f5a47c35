// Package locks provides process-shared, futex-based synchronization
// primitives that live in shared memory: Mutex, RMutex, Semaphore,
// BoundedSemaphore, Cond, Event and Barrier — the locks of Python's
// multiprocessing, for Go processes that share a segment.
//
// # Basics
//
// Every type is a fixed-size, pointer-free struct placed in memory you
// provide — usually a field of your own C-layout struct in a shm segment,
// viewed with ctypes.View. Like sync.Mutex, the zero value is ready where
// that makes sense (Mutex, RMutex, Cond, Event; Semaphore with count zero);
// Semaphore, BoundedSemaphore and Barrier take their parameter through Init,
// called once by whoever creates the segment. All processes must map the
// memory MAP_SHARED (package shm does).
//
//	type Shared struct {
//		mu    locks.Mutex
//		count int64
//	}
//	s, _ := ctypes.View[Shared](seg.Bytes())
//	s.mu.Lock()
//	s.count++
//	s.mu.Unlock()
//
// The convenience layer: NewMutex, NewRMutex, NewSemaphore,
// NewBoundedSemaphore, NewCond, NewEvent and NewBarrier each place one
// primitive in an anonymous segment of its own and return a handle with
// the primitive's methods, which a package fork task receives working (as
// Python passes a multiprocessing.Lock to a child). Close the handle when
// done.
//
// Waiting spins for a few microseconds, then sleeps on a shared futex; an
// idle waiter uses no CPU. Every blocking call has a form that takes a
// context.Context and returns ctx.Err() promptly when it ends. Waiters of one
// process on one word are coalesced: at most one of them holds an OS thread
// in the kernel, so thousands of waiting goroutines cost goroutines, not
// threads.
//
// # Robustness
//
// A Mutex (and RMutex) is robust: when a process dies holding it, the next
// LockContext acquires it and returns ErrOwnerDead. The holder repairs the
// guarded data and calls MarkConsistent; unlocking without that makes the
// lock unrecoverable (ErrNotRecoverable), as with POSIX robust mutexes.
//
// It works through the kernel's robust futex list. Each process runs anchor
// threads registered with set_robust_list (one shared, and one for each of
// up to eight of Go's Ps that take locks); a held lock's word carries the
// thread id of the anchor whose list covers it.
// When the process dies, however it dies, the kernel marks each held lock
// owner-died and wakes a waiter: no polling. A waiter that has slept a
// quarter second also checks that the owner still exists, which covers what
// the kernel cannot see (more than 2048 locks held at once, or a robust list
// refused by a seccomp filter).
//
// The other primitives have no owner; this is what a dead participant
// means for each:
//
//   - Semaphore, BoundedSemaphore: a unit acquired by a process that dies is
//     lost, as with POSIX semaphores.
//   - Cond: a dead waiter never blocks Signal or Broadcast; a token granted
//     to it lets a later Wait return early (a spurious wake-up).
//   - Event: nothing is lost; a dead waiter simply stops waiting.
//   - Barrier: a waiter that dies at the barrier breaks it: the others get
//     ErrBrokenBarrier within about a quarter second instead of hanging.
//
// # Caveats
//
//   - Processes that share locks must share a PID namespace: lock words
//     carry thread ids, and the liveness check looks them up in its own
//     namespace.
//   - A Mutex is held by a process, not a goroutine: a goroutine can
//     unlock a Mutex another goroutine of the same process locked, as with
//     sync.Mutex, and locking it twice from one process deadlocks. Use
//     RMutex for re-entry.
//   - Do not unmap memory holding a locked Mutex: the kernel reads the
//     robust list when the process dies.
//   - In a binary built with cgo, each anchor thread replaces the robust
//     list glibc registered for that thread; glibc robust mutexes locked on
//     those threads would lose their robustness.
//   - Shared memory is untrusted: garbage in a lock word never makes a
//     method read outside the primitive or panic, except where the method
//     documents a panic for misuse; it can make a lock look held.
package locks
