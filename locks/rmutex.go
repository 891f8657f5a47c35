package locks

import (
	"context"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/sys"
)

// RMutex is a robust, process-shared recursive mutex (Python's RLock). The
// goroutine that locks it owns it and may lock it again; it stays locked
// until that goroutine has unlocked it as many times. Other goroutines and
// other processes wait. The zero value is an unlocked RMutex.
//
// Ownership is tied to the goroutine by pinning it to its OS thread
// (runtime.LockOSThread) from the first Lock to the last Unlock, and
// recording the thread id: no other goroutine can run on that thread in the
// meantime, so the thread id names the goroutine.
//
// Robustness is the embedded Mutex's: a holder that dies leaves the lock to
// the next LockContext with ErrOwnerDead.
//
// Memory layout (24 bytes, 8-byte aligned):
//
//	offset size field
//	0      16   m      the underlying Mutex
//	16     4    owner  thread id of the owning goroutine (0 when free);
//	                   written only by the holder
//	20     4    count  recursion depth; written only by the holder
type RMutex struct {
	m     Mutex
	owner uint32
	count uint32
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
	// An owner is already pinned to its thread, so the thread id read while
	// pinned tells re-entry apart. A goroutine that is not the owner unpins
	// before it waits: a pinned waiter would hold an OS thread the whole
	// time, and thousands of waiters would exhaust them.
	//
	// gettid is a system call (about a microsecond on some VMs): skip it
	// unless this process holds the lock, the only case re-entry is possible.
	if atomic.LoadUint32(&r.m.word)&tidMask == anchorTid() {
		runtime.LockOSThread()
		if r.ownedBy(uint32(sys.Gettid())) {
			r.count++
			return nil
		}
		runtime.UnlockOSThread()
	}
	err := r.m.LockContext(ctx)
	if err != nil && err != ErrOwnerDead {
		return err
	}
	runtime.LockOSThread()
	atomic.StoreUint32(&r.owner, uint32(sys.Gettid()))
	r.count = 1
	return err
}

// TryLock locks r if it is free (or owned by the caller) and reports whether
// it did.
func (r *RMutex) TryLock() bool {
	runtime.LockOSThread()
	if atomic.LoadUint32(&r.m.word)&tidMask == anchorTid() && r.ownedBy(uint32(sys.Gettid())) {
		r.count++
		return true
	}
	if !r.m.TryLock() {
		runtime.UnlockOSThread()
		return false
	}
	atomic.StoreUint32(&r.owner, uint32(sys.Gettid()))
	r.count = 1
	return true
}

// ownedBy reports whether the thread me owns r: the word says this process
// holds it and owner names the thread.
func (r *RMutex) ownedBy(me uint32) bool {
	return atomic.LoadUint32(&r.owner) == me &&
		atomic.LoadUint32(&r.m.word)&tidMask == anchorTid()
}

// Unlock removes one level; the last one unlocks. It panics if the calling
// goroutine does not own r.
func (r *RMutex) Unlock() {
	me := uint32(sys.Gettid())
	if !r.ownedBy(me) {
		panic("locks: unlock of RMutex by a goroutine that does not own it")
	}
	if r.count == 0 {
		panic("locks: unlock of RMutex with a zero count")
	}
	r.count--
	if r.count == 0 {
		atomic.StoreUint32(&r.owner, 0)
		r.m.Unlock()
	}
	runtime.UnlockOSThread()
}

// MarkConsistent declares the guarded data repaired after LockContext
// returned ErrOwnerDead. The caller must own r.
func (r *RMutex) MarkConsistent() {
	if !r.ownedBy(uint32(sys.Gettid())) {
		panic("locks: MarkConsistent of an RMutex the caller does not own")
	}
	r.m.MarkConsistent()
}
