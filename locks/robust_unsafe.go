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
// goroutine took it, and every held Mutex is linked on its list. When the
// process dies the anchor thread dies with it and the kernel releases every
// lock the process held.
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

// anchor is the process's robust list. head.ListOpPending doubles as the
// lock that serializes list edits among this process's goroutines: a
// goroutine claims the list by swinging it from 0 to the entry it is about
// to lock or unlock, which is exactly what the kernel must know should the
// process die mid-operation, and releases it by storing 0.
var anchor struct {
	once  sync.Once
	tid   uint32 // immutable after once
	err   error
	head  sys.RobustListHead // a global: never moves, lives as long as the process
	nodes []slotNode
	first int32
	free  []int32
}

// claim takes the list for an operation on the entry e.
func claim(e uintptr) {
	for i := 0; !atomic.CompareAndSwapUintptr(&anchor.head.ListOpPending, 0, e); i++ {
		if i&15 == 15 {
			runtime.Gosched()
		}
	}
}

// unclaim ends the operation (unclaim_*.go): a release store of 0.

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

// acquire tries to move m.word from old to new (new carries our TID) and, on
// success, links m on the robust list. The pending mark covers a death
// between the CAS and the link.
func (m *Mutex) acquire(old, new uint32) bool {
	claim(entryAddr(m))
	ok := casWord(&m.word, old, new)
	if ok {
		m.link()
	}
	unclaim()
	return ok
}

// release unlinks m and stores new (0 or notRecoverable) into its word,
// returning the old word. The pending mark covers a death between the
// unlink and the store.
func (m *Mutex) release(new uint32) uint32 {
	claim(entryAddr(m))
	m.unlink()
	old := swapWord(&m.word, new)
	unclaim()
	return old
}

// link pushes m at the front of the list. Called with the list claimed.
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

// unlink removes m from the list. Called with the list claimed.
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
	claim(1)
	defer unclaim()
	n := 0
	for i := anchor.first; i != noSlot; i = anchor.nodes[i].next {
		n++
	}
	return n
}
