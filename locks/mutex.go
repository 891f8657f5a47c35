package locks

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/sys"
)

// Mutex is a robust, process-shared mutual exclusion lock. It lives in the
// memory it is placed in (a shared segment, or any 8-byte aligned memory);
// the zero value is an unlocked mutex.
//
// A Mutex is held by a process, not by a goroutine: any goroutine of the
// holding process may unlock it, as with sync.Mutex.
//
// Robustness: when the holding process dies, the kernel releases the lock
// (see the package documentation) and the next LockContext acquires it and
// returns ErrOwnerDead. The data the lock guards may be half-updated: the
// new holder repairs it and calls MarkConsistent. If it unlocks without
// doing so, the lock becomes unrecoverable: every later LockContext returns
// ErrNotRecoverable.
//
// Memory layout (16 bytes, 8-byte aligned), the published format:
//
//	offset size field
//	0      4    word   futex word, owned by the protocol:
//	                     0                      unlocked
//	                     TID [|WAITERS]         locked by the process whose
//	                                            anchor thread has id TID
//	                     OWNER_DIED [|WAITERS]  unlocked; the holder died
//	                     0x3fffffff             not recoverable
//	                   WAITERS = 1<<31: a waiter may sleep in the kernel;
//	                   OWNER_DIED = 1<<30; TID = low 30 bits (kernel ABI).
//	4      4    state  the holder's bookkeeping: bit 31 inconsistent
//	                   (acquired after an owner died, not yet marked
//	                   consistent); bits 0-30 the holder's robust-list slot+1
//	8      8    next   the robust-list link, an address in the holder's
//	                   process, read by the kernel when the holder dies
//
// Only the holder writes state and next. The word is changed only by
// compare-and-swap (lock) and swap (unlock); the n'th Unlock synchronizes
// before the lock operation that observes it.
type Mutex struct {
	word  uint32
	state uint32
	next  uint64
}

const (
	waitersBit     = sys.FutexWaiters
	ownerDiedBit   = sys.FutexOwnerDied
	tidMask        = sys.FutexTIDMask
	notRecoverable = tidMask // never a real TID: PID_MAX_LIMIT is 1<<22

	inconsistentBit = 1 << 31
	slotMask        = 1<<31 - 1
)

// state is written and read only by the holder, so plain accesses suffice:
// the lock hand-off orders them.
func (m *Mutex) slot() int32 { return int32(m.state&slotMask) - 1 }

func (m *Mutex) setSlot(s int32) { m.state = uint32(s+1) & slotMask } // clears inconsistent too

// Lock locks m, waiting as long as it takes.
//
// Lock cannot report a dead owner: when the previous holder died, Lock
// acquires the lock and marks it consistent, as if nothing had happened. Use
// LockContext where the guarded data may need repair. Lock panics if the
// lock is not recoverable.
func (m *Mutex) Lock() {
	if atomic.LoadUint32(&m.word) == 0 && m.acquire(0, 0) {
		race.Acquire(m)
		return
	}
	switch err := m.lockSlow(context.Background()); err {
	case nil:
	case ErrOwnerDead:
		m.MarkConsistent()
	default:
		panic("locks: Lock of an unrecoverable Mutex: " + err.Error())
	}
}

// LockContext locks m, or returns ctx.Err() if ctx ends first. It returns
// ErrOwnerDead, holding the lock, when the previous holder died holding it,
// and ErrNotRecoverable, not holding it, when the lock is unusable.
func (m *Mutex) LockContext(ctx context.Context) error {
	if atomic.LoadUint32(&m.word) == 0 && m.acquire(0, 0) {
		race.Acquire(m)
		return nil
	}
	return m.lockSlow(ctx)
}

// TryLock locks m if it is free and consistent, and reports whether it did.
// A lock whose holder died is left for LockContext, which can report it.
func (m *Mutex) TryLock() bool {
	if atomic.LoadUint32(&m.word) == 0 && m.acquire(0, 0) {
		race.Acquire(m)
		return true
	}
	return false
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	var err error
	var done bool
	if spinBackoff(func() bool {
		w := atomic.LoadUint32(&m.word)
		if w&tidMask == notRecoverable {
			err, done = ErrNotRecoverable, true
			return true
		}
		if w&tidMask == 0 {
			done, err = m.takeFree(w, 0)
		}
		return done
	}) {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One goroutine per process contends in the kernel; the rest queue here.
	g, err := park.Enter(ctx, &m.word)
	if err != nil {
		return err
	}
	defer g.Leave()
	for {
		w := atomic.LoadUint32(&m.word)
		switch {
		case w&tidMask == notRecoverable:
			return ErrNotRecoverable
		case w&tidMask == 0:
			// We were a sleeper and others may still be: keep WAITERS set
			// so that our Unlock wakes the next one.
			if done, err := m.takeFree(w, waitersBit); done {
				return err
			}
			continue
		case w&waitersBit == 0:
			if !casWord(&m.word, w, w|waitersBit) {
				continue
			}
			w |= waitersBit
		}
		switch err := park.Sleep(ctx, &m.word, w, livenessInterval); err {
		case nil:
		case park.ErrTimeout:
			m.checkOwner(w)
		default:
			// A wake-up from Unlock may have chosen us; hand it on.
			if atomic.LoadUint32(&m.word)&tidMask == 0 {
				park.Wake(&m.word, 1)
			}
			return err
		}
	}
}

// takeFree tries to take the free word w (no TID bits). It reports whether
// it holds the lock, and ErrOwnerDead when the previous holder died.
func (m *Mutex) takeFree(w, extra uint32) (bool, error) {
	if !m.acquire(w, extra|(w&waitersBit)) {
		return false, nil
	}
	race.Acquire(m)
	if w&ownerDiedBit != 0 {
		m.state |= inconsistentBit
		return true, ErrOwnerDead
	}
	return true, nil
}

// checkOwner is the liveness backstop: if the lock still holds w and its
// owner no longer exists, mark it owner-died, as the kernel would have.
func (m *Mutex) checkOwner(w uint32) {
	owner := w & tidMask
	if owner == notRecoverable || alive(owner) {
		return
	}
	casWord(&m.word, w, ownerDiedBit|(w&waitersBit))
}

// Unlock unlocks m. It panics if m is not locked by this process.
//
// If m was acquired with ErrOwnerDead and MarkConsistent was not called,
// Unlock makes it unrecoverable and wakes every waiter to tell them.
func (m *Mutex) Unlock() {
	w := atomic.LoadUint32(&m.word)
	// The common case, written out so that it costs no further call: m is
	// consistent and covered by a per-P slot, whose anchor's TID the word
	// carries (robust_unsafe.go).
	if k := m.pCovered(); k >= 0 && m.state&inconsistentBit == 0 {
		if t := w & tidMask; t != 0 && t == atomic.LoadUint32(&pCovers[k].tid) {
			race.Release(m)
			m.setSlot(noSlot)
			old := swapWord(&m.word, 0)
			unclaim(&pCovers[k].head.ListOpPending)
			if old&waitersBit != 0 {
				park.Wake(&m.word, 1)
			}
			return
		}
	}
	m.unlockSlow(w)
}

func (m *Mutex) unlockSlow(w uint32) {
	switch {
	case w&tidMask == notRecoverable:
		panic("locks: unlock of an unrecoverable Mutex")
	case w&tidMask == 0:
		panic("locks: unlock of unlocked Mutex")
	case !m.holds(w & tidMask):
		panic("locks: unlock of Mutex held by another process")
	}
	var new uint32
	if m.state&inconsistentBit != 0 {
		new = notRecoverable
	}
	race.Release(m)
	old := m.release(new)
	switch {
	case new == notRecoverable:
		park.Wake(&m.word, park.WakeAll)
	case old&waitersBit != 0:
		park.Wake(&m.word, 1)
	}
}

// Owner is the thread id of the holder's robust-list anchor thread (the
// owner id in the lock word; its process is the holder), 0 when m is free
// (or its holder died), -1 when m is not recoverable. A snapshot, for
// diagnostics such as `shmkit stat`.
func (m *Mutex) Owner() int {
	w := atomic.LoadUint32(&m.word) & tidMask
	if w == notRecoverable {
		return -1
	}
	return int(w)
}

// Held reports whether this process holds m (any of its goroutines). It is
// a snapshot: another process may take m as soon as this one unlocks it.
func (m *Mutex) Held() bool {
	w := atomic.LoadUint32(&m.word)
	return ownTid(w & tidMask)
}

// MarkConsistent declares that the data guarded by m has been repaired
// after LockContext returned ErrOwnerDead. The caller must hold m.
func (m *Mutex) MarkConsistent() {
	if w := atomic.LoadUint32(&m.word); !m.holds(w & tidMask) {
		panic("locks: MarkConsistent of a Mutex this process does not hold")
	}
	m.state &^= inconsistentBit
}
