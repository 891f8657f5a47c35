package locks

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/sys"
)

// The robust list (DESIGN.md §4).
//
// The kernel keeps, per thread, a pointer to a robust_list_head in user
// memory. When the thread exits, for whatever reason, the kernel walks the
// list: for each entry it reads the 32-bit word at entry+FutexOffset and, if
// the word's TID bits are the dying thread's TID, sets FUTEX_OWNER_DIED,
// clears the TID and wakes one waiter if FUTEX_WAITERS was set. The entry
// named by ListOpPending is handled too, covering a thread that dies between
// taking a lock and linking it (or unlinking and releasing it).
//
// Goroutines migrate between threads, so shmkit gives the whole process one
// anchor: a goroutine locked to its own OS thread for the life of the
// process, which registers the list and then parks forever. Its TID is the
// owner id every Mutex held by this process carries in its word, whichever
// goroutine took it. When the process dies the anchor thread dies with it
// and the kernel releases every lock the process held.
//
// Two covers. The common case — the process holds one Mutex at a time —
// costs no list edit: Lock claims ListOpPending for the whole time it holds
// the Mutex (a compare-and-swap from 0), and the kernel handles the pending
// entry at death exactly like a listed one; Unlock releases the word, then
// clears ListOpPending with a plain release store. A Mutex locked while
// ListOpPending already covers another is linked on the list instead, under
// listLock; the instants between its word changing and its list edit are
// then covered only by waiters' liveness check (Mutex.checkOwner), since
// the single pending slot is taken.
//
// Entries are the Mutex.next fields, in shared memory; the kernel follows
// them as addresses in this process. Only the holder of a Mutex writes its
// next field, and a Mutex is on at most one list: its holder's. The list is
// kept doubly linked on the Go side (slots, below), so that unlinking is O(1)
// without ever turning an address read from shared memory back into a
// pointer. Each held Mutex records its slot index in its own state word,
// checked on use because shared memory may be scribbled on.

// futexOffset is the distance from an entry (Mutex.next) to its futex word
// (Mutex.word); the kernel takes it as one constant per list.
const futexOffset = int64(unsafe.Offsetof(Mutex{}.word)) - int64(unsafe.Offsetof(Mutex{}.next))

const noSlot = -1

type slotNode struct {
	m          *Mutex
	prev, next int32 // noSlot at the ends
}

// anchor is the process's robust list head and its Go-side bookkeeping.
var anchor struct {
	once  sync.Once
	tid   uint32 // immutable after once
	err   error
	head  sys.RobustListHead // a global: never moves, lives as long as the process
	nodes []slotNode
	first int32
	free  []int32
}

// unclaim ends the pending cover (unclaim_*.go): a release store of 0.

// anchorTid returns the owner id of this process, starting the anchor thread
// on first use.
func anchorTid() uint32 {
	anchor.once.Do(startAnchor)
	return anchor.tid
}

func startAnchor() {
	anchor.first = noSlot
	anchor.head.List = uintptr(unsafe.Pointer(&anchor.head))
	anchor.head.FutexOffset = futexOffset
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		anchor.err = sys.SetRobustList(&anchor.head)
		anchor.tid = uint32(sys.Gettid())
		close(ready)
		select {}
	}()
	<-ready
	if anchor.tid&^sys.FutexTIDMask != 0 || anchor.tid == 0 {
		panic("locks: thread id does not fit a robust futex word")
	}
}

// robustErr reports whether the kernel accepted the robust list. Without it
// (seccomp, old kernels) locks still work and the liveness check is the only
// way a dead owner is noticed.
func robustErr() error {
	anchorTid()
	return anchor.err
}

func entryAddr(m *Mutex) uintptr { return uintptr(unsafe.Pointer(&m.next)) }

// listLock serializes list edits when the pending slot is taken.
var listLock uint32

func lockList() {
	for i := 0; !atomic.CompareAndSwapUint32(&listLock, 0, 1); i++ {
		if i&15 == 15 {
			runtime.Gosched()
		}
	}
}

func unlockList() { atomic.StoreUint32(&listLock, 0) }

// pendingSlot in a held Mutex's state says that ListOpPending, not the list,
// covers it for the kernel.
const pendingSlot = slotMask - 1

// acquire tries to move m.word from old to new (new carries our TID). If
// ListOpPending is free, it claims it for the whole critical section:
// the kernel handles the pending entry at death like a list entry, and no
// list edit is needed. Otherwise m is linked on the list.
func (m *Mutex) acquire(old, new uint32) bool {
	e := entryAddr(m)
	if atomic.CompareAndSwapUintptr(&anchor.head.ListOpPending, 0, e) {
		if casWord(&m.word, old, new) {
			m.setSlot(pendingSlot)
			return true
		}
		unclaim()
		return false
	}
	lockList()
	ok := casWord(&m.word, old, new)
	if ok {
		m.link()
	}
	unlockList()
	return ok
}

// release stores new (0 or notRecoverable) into m's word, returning the old
// word, and ends m's cover: ListOpPending or the list.
func (m *Mutex) release(new uint32) uint32 {
	e := entryAddr(m)
	if m.slot() == pendingSlot && atomic.LoadUintptr(&anchor.head.ListOpPending) == e {
		m.setSlot(noSlot)
		old := swapWord(&m.word, new)
		unclaim()
		return old
	}
	lockList()
	m.unlink()
	old := swapWord(&m.word, new)
	unlockList()
	return old
}

// link pushes m at the front of the list. Called holding listLock.
func (m *Mutex) link() {
	var s int32
	if n := len(anchor.free); n > 0 {
		s = anchor.free[n-1]
		anchor.free = anchor.free[:n-1]
	} else {
		s = int32(len(anchor.nodes))
		anchor.nodes = append(anchor.nodes, slotNode{})
	}
	first := anchor.first
	anchor.nodes[s] = slotNode{m: m, prev: noSlot, next: first}
	if first == noSlot {
		m.next = uint64(uintptr(unsafe.Pointer(&anchor.head)))
	} else {
		m.next = uint64(entryAddr(anchor.nodes[first].m))
		anchor.nodes[first].prev = s
	}
	anchor.head.List = entryAddr(m)
	anchor.first = s
	m.setSlot(s)
}

// unlink removes m from the list. Called holding listLock.
func (m *Mutex) unlink() {
	s := m.slot()
	if s < 0 || int(s) >= len(anchor.nodes) || anchor.nodes[s].m != m {
		// The slot index in shared memory was overwritten; find m the slow way.
		s = noSlot
		for i := anchor.first; i != noSlot; i = anchor.nodes[i].next {
			if anchor.nodes[i].m == m {
				s = i
				break
			}
		}
		if s == noSlot {
			return // not linked: nothing the kernel could misread
		}
	}
	n := anchor.nodes[s]
	var nextAddr uintptr
	if n.next == noSlot {
		nextAddr = uintptr(unsafe.Pointer(&anchor.head))
	} else {
		nextAddr = entryAddr(anchor.nodes[n.next].m)
		anchor.nodes[n.next].prev = n.prev
	}
	if n.prev == noSlot {
		anchor.head.List = nextAddr
		anchor.first = n.next
	} else {
		anchor.nodes[n.prev].m.next = uint64(nextAddr)
		anchor.nodes[n.prev].next = n.next
	}
	anchor.nodes[s] = slotNode{prev: noSlot, next: noSlot}
	anchor.free = append(anchor.free, s)
	m.next = 0
	m.setSlot(noSlot)
}

// heldCount is the number of Mutexes this process holds (for tests).
func heldCount() int {
	lockList()
	defer unlockList()
	n := 0
	// ListOpPending is only ever set (outside the instant of a failed
	// compare-and-swap) while it covers a held Mutex.
	if atomic.LoadUintptr(&anchor.head.ListOpPending) != 0 {
		n++
	}
	for i := anchor.first; i != noSlot; i = anchor.nodes[i].next {
		n++
	}
	return n
}
