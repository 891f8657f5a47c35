package locks

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/goid"
)

// RMutex is a robust, process-shared recursive mutex (Python's RLock). The
// goroutine that locks it owns it and may lock it again; it stays locked
// until that goroutine has unlocked it as many times. Other goroutines and
// other processes wait. The zero value is an unlocked RMutex.
//
// The owner is recorded as the goroutine's runtime identity (the address of
// its descriptor, internal/goid), which together with the lock word's
// process id names one goroutine of one process. Reading it costs a
// nanosecond; no thread is pinned and no system call made.
//
// Robustness is the embedded Mutex's: a holder that dies leaves the lock to
// the next LockContext with ErrOwnerDead.
//
// Memory layout (32 bytes, 8-byte aligned):
//
//	offset size field
//	0      16   m      the underlying Mutex
//	16     8    owner  identity of the owning goroutine in the holding
//	                   process (0 when free); written only by the holder
//	24     4    count  recursion depth; written only by the holder
//	28     4    (padding)
type RMutex struct {
	m     Mutex
	owner uint64
	count uint32
	_     uint32
}

// Lock locks r, or adds a level if the calling goroutine already owns it.
// Like Mutex.Lock it marks a dead owner's lock consistent and panics on an
// unrecoverable lock.
func (r *RMutex) Lock() {
	switch err := r.LockContext(context.Background()); err {
	case nil:
	case ErrOwnerDead:
		r.MarkConsistent()
	default:
		panic("locks: Lock of an unrecoverable RMutex: " + err.Error())
	}
}

// LockContext is Lock with cancellation and owner-death reporting, as
// Mutex.LockContext.
func (r *RMutex) LockContext(ctx context.Context) error {
	me := uint64(goid.Current())
	if r.ownedBy(me) {
		r.count++
		return nil
	}
	err := r.m.LockContext(ctx)
	if err != nil && err != ErrOwnerDead {
		return err
	}
	atomic.StoreUint64(&r.owner, me)
	r.count = 1
	return err
}

// TryLock locks r if it is free (or owned by the caller) and reports whether
// it did.
func (r *RMutex) TryLock() bool {
	me := uint64(goid.Current())
	if r.ownedBy(me) {
		r.count++
		return true
	}
	if !r.m.TryLock() {
		return false
	}
	atomic.StoreUint64(&r.owner, me)
	r.count = 1
	return true
}

// ownedBy reports whether goroutine me of this process owns r: the word
// says this process holds it and owner names the goroutine.
func (r *RMutex) ownedBy(me uint64) bool {
	return atomic.LoadUint64(&r.owner) == me &&
		r.m.holds(atomic.LoadUint32(&r.m.word)&tidMask)
}

// Unlock removes one level; the last one unlocks. It panics if the calling
// goroutine does not own r.
func (r *RMutex) Unlock() {
	if !r.ownedBy(uint64(goid.Current())) {
		panic("locks: unlock of RMutex by a goroutine that does not own it")
	}
	if r.count == 0 {
		panic("locks: unlock of RMutex with a zero count")
	}
	r.count--
	if r.count == 0 {
		atomic.StoreUint64(&r.owner, 0)
		r.m.Unlock()
	}
}

// MarkConsistent declares the guarded data repaired after LockContext
// returned ErrOwnerDead. The caller must own r.
func (r *RMutex) MarkConsistent() {
	if !r.ownedBy(uint64(goid.Current())) {
		panic("locks: MarkConsistent of an RMutex the caller does not own")
	}
	r.m.MarkConsistent()
}
