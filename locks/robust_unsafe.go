package locks

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe" // also for go:linkname

	"github.com/shmkit/shmkit/internal/release"
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
// Three covers, cheapest first.
//
// Per-P covers. Go runs goroutines on a fixed set of processors (Ps,
// GOMAXPROCS of them). Each of the first maxPCovers Ps that takes a lock
// gets an anchor thread of its own, with its own list head, and uses that
// head's ListOpPending as a slot for one held Mutex: Lock pins the goroutine
// to its P (so no other goroutine can run there), finds the slot empty and
// stores the Mutex's entry with a plain store, unpins, then takes the word
// with that anchor's TID. No other P ever writes a non-zero entry there, and
// only the Mutex's holder clears it, after releasing the word, so the slot
// needs no locked instruction: an uncontended Lock+Unlock costs two (the
// word's compare-and-swap and swap), as a glibc robust mutex does.
//
// The shared pending slot. Otherwise (a P whose slot is busy, a P beyond
// maxPCovers, or one whose anchor thread is still starting) Lock claims the
// process anchor's ListOpPending with a compare-and-swap from 0, for the
// whole time it holds the Mutex; Unlock releases the word, then clears it
// with a plain release store.
//
// The list. A Mutex locked while both of those are taken is linked on the
// process anchor's list instead, under listLock; the instants between its
// word changing and its list edit are then covered only by waiters'
// liveness check (Mutex.checkOwner), since no pending slot is free.
//
// In every case the kernel handles a pending entry at death exactly like a
// listed one, and a Mutex's word carries the TID of the anchor whose head
// covers it: the kernel releases only words that carry the dying thread's
// TID.
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

// unclaim ends a pending cover: a release store of 0 (a plain store on
// amd64, not the locked XCHG of atomic.Store), after the word's release.
func unclaim(p *uintptr) { release.StoreUintptr(p, 0) }

// maxPCovers bounds the per-P covers: at most this many extra anchor
// threads, however large GOMAXPROCS is.
const maxPCovers = 8

// pCover is one P's anchor. tid is 0 until its anchor thread has
// registered head (and stays 0 if the kernel refused it); started goes
// from 0 to 1 once, when the thread is asked for. Each is padded to its
// own cache line: only its P writes it while locking.
type pCover struct {
	head    sys.RobustListHead
	tid     uint32
	started uint32
	_       [64 - unsafe.Sizeof(sys.RobustListHead{}) - 8]byte
}

var pCovers [maxPCovers]pCover

// procPin disables preemption of the calling goroutine and returns the id
// of its P; procUnpin ends that. sync.Pool uses the same pair; the runtime
// keeps them for packages outside the standard library (go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// startPCover asks for P k's anchor thread if it has none and nobody asked.
func startPCover(k int) {
	if uint(k) >= maxPCovers {
		return
	}
	c := &pCovers[k]
	if atomic.LoadUint32(&c.started) == 0 && atomic.CompareAndSwapUint32(&c.started, 0, 1) {
		go runPCover(c)
	}
}

// runPCover is the anchor thread of one P's cover.
func runPCover(c *pCover) {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	c.head.List = uintptr(unsafe.Pointer(&c.head))
	c.head.FutexOffset = futexOffset
	if sys.SetRobustList(&c.head) != nil {
		return // tid stays 0: this P uses the shared covers; the thread exits
	}
	tid := uint32(sys.Gettid())
	if tid&^sys.FutexTIDMask != 0 || tid == 0 {
		panic("locks: thread id does not fit a robust futex word")
	}
	atomic.StoreUint32(&c.tid, tid)
	select {}
}

// pSlot is the state slot of a Mutex covered by P k's pending slot, and
// pCoverOf its inverse (-1 for any other slot).
func pSlot(k int) int32 { return pendingSlot - 1 - int32(k) }

func pCoverOf(s int32) int {
	if k := pendingSlot - 1 - s; k >= 0 && k < maxPCovers {
		return int(k)
	}
	return -1
}

// pCovered returns the P whose pending slot covers m, or -1. The caller
// holds m, or m's word does not carry a TID of this process's (the slot
// then holds another entry).
func (m *Mutex) pCovered() int {
	k := pCoverOf(m.slot())
	if k >= 0 && atomic.LoadUintptr(&pCovers[k].head.ListOpPending) == entryAddr(m) {
		return k
	}
	return -1
}

// releaseP is release for a Mutex covered by P k's pending slot.
func (m *Mutex) releaseP(k int, new uint32) uint32 {
	m.setSlot(noSlot)
	old := swapWord(&m.word, new)
	unclaim(&pCovers[k].head.ListOpPending)
	return old
}

// ownTid reports whether owner id t is one of this process's anchors.
func ownTid(t uint32) bool {
	if t == 0 || t == notRecoverable {
		return false
	}
	for i := range pCovers {
		if atomic.LoadUint32(&pCovers[i].tid) == t {
			return true
		}
	}
	return t == anchorTid()
}

// holds reports whether this process holds m, whose word has owner id t.
// The caller is m's holder, or m is not held by this process: state is
// only read to find the right anchor fast, and checked against t.
func (m *Mutex) holds(t uint32) bool {
	if k := pCoverOf(m.slot()); k >= 0 && t != 0 && t == atomic.LoadUint32(&pCovers[k].tid) {
		return true
	}
	return ownTid(t)
}

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

// acquire tries to move m.word from old to the TID of the anchor that
// covers it, or'ed with extra, covering m for the whole critical section
// (see the covers above).
//
// The per-P slot first. While pinned, no other goroutine can run on this
// P, and goroutines on other Ps only ever clear its slot (each clearing its
// own entry), so checking that it is empty and storing m's entry need no
// compare-and-swap. procPin and procUnpin are calls, which the compiler
// does not move memory accesses across; the word's compare-and-swap, after
// the store, is a full barrier.
func (m *Mutex) acquire(old, extra uint32) bool {
	k := procPin()
	if uint(k) < maxPCovers {
		c := &pCovers[k]
		if tid := atomic.LoadUint32(&c.tid); tid != 0 && atomic.LoadUintptr(&c.head.ListOpPending) == 0 {
			release.StoreUintptr(&c.head.ListOpPending, entryAddr(m))
			procUnpin()
			if casWord(&m.word, old, tid|extra) {
				m.setSlot(pSlot(k))
				return true
			}
			unclaim(&c.head.ListOpPending)
			return false
		}
	}
	procUnpin()
	startPCover(k)
	return m.acquireShared(old, extra)
}

// acquireShared is acquire with the process anchor's covers.
func (m *Mutex) acquireShared(old, extra uint32) bool {
	e := entryAddr(m)
	new := anchorTid() | extra
	if atomic.CompareAndSwapUintptr(&anchor.head.ListOpPending, 0, e) {
		if casWord(&m.word, old, new) {
			m.setSlot(pendingSlot)
			return true
		}
		unclaim(&anchor.head.ListOpPending)
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
// word, and ends m's cover: a pending slot or the list. The slot is cleared
// after the word: a death in between leaves the kernel a pending entry
// whose word no longer carries this process's TID, which it skips.
func (m *Mutex) release(new uint32) uint32 {
	e := entryAddr(m)
	s := m.slot()
	if k := m.pCovered(); k >= 0 {
		return m.releaseP(k, new)
	}
	if s == pendingSlot && atomic.LoadUintptr(&anchor.head.ListOpPending) == e {
		m.setSlot(noSlot)
		old := swapWord(&m.word, new)
		unclaim(&anchor.head.ListOpPending)
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
	// A ListOpPending is only ever set (outside the instant of a failed
	// compare-and-swap) while it covers a held Mutex.
	if atomic.LoadUintptr(&anchor.head.ListOpPending) != 0 {
		n++
	}
	for i := range pCovers {
		if atomic.LoadUintptr(&pCovers[i].head.ListOpPending) != 0 {
			n++
		}
	}
	for i := anchor.first; i != noSlot; i = anchor.nodes[i].next {
		n++
	}
	return n
}
