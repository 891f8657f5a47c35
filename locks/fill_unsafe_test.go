package locks

import (
	"testing"
	"unsafe"
)

// fillValue fills *p with data, repeated: garbage a hostile process could
// have written.
func fillValue[T any](p *T, data []byte) { fill(unsafe.Pointer(p), unsafe.Sizeof(*p), data) }

// fill copies data over the n bytes at p, repeating it.
func fill(p unsafe.Pointer, n uintptr, data []byte) {
	b := unsafe.Slice((*byte)(p), n)
	for i := range b {
		if len(data) == 0 {
			b[i] = 0
		} else {
			b[i] = data[i%len(data)]
		}
	}
}

// TestLayout pins the published memory layouts (see each type's
// documentation and docs/). Changing one is a format change.
func TestLayout(t *testing.T) {
	check := func(name string, got, want uintptr) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	var m Mutex
	check("Sizeof(Mutex)", unsafe.Sizeof(m), 16)
	check("Alignof(Mutex)", unsafe.Alignof(m), 8)
	check("Mutex.word", unsafe.Offsetof(m.word), 0)
	check("Mutex.state", unsafe.Offsetof(m.state), 4)
	check("Mutex.next", unsafe.Offsetof(m.next), 8)
	check("futexOffset", uintptr(-futexOffset), 8)
	var r RMutex
	check("Sizeof(RMutex)", unsafe.Sizeof(r), 32)
	check("RMutex.owner", unsafe.Offsetof(r.owner), 16)
	check("RMutex.count", unsafe.Offsetof(r.count), 24)
	var s Semaphore
	check("Sizeof(Semaphore)", unsafe.Sizeof(s), 8)
	check("Semaphore.waiters", unsafe.Offsetof(s.waiters), 4)
	var bs BoundedSemaphore
	check("Sizeof(BoundedSemaphore)", unsafe.Sizeof(bs), 12)
	check("BoundedSemaphore.bound", unsafe.Offsetof(bs.bound), 8)
	var c Cond
	check("Sizeof(Cond)", unsafe.Sizeof(c), 16)
	check("Alignof(Cond)", unsafe.Alignof(c), 8)
	check("Cond.state", unsafe.Offsetof(c.state), 8)
	var e Event
	check("Sizeof(Event)", unsafe.Sizeof(e), 4)
	var b Barrier
	check("Sizeof(Barrier)", unsafe.Sizeof(b), 552)
	check("Barrier.parties", unsafe.Offsetof(b.parties), 4)
	check("Barrier.count", unsafe.Offsetof(b.count), 8)
	check("Barrier.outcome", unsafe.Offsetof(b.outcome), 16)
	check("Barrier.mu", unsafe.Offsetof(b.mu), 24)
	check("Barrier.procs", unsafe.Offsetof(b.procs), 40)
}
