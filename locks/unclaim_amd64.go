//go:build amd64 && !race

package locks

// unclaim ends a pending cover with a plain store. On amd64 every store is
// a release store (x86-TSO: a store is not reordered with earlier loads or
// stores). The compiler does not move it above the word's swap either,
// inlined or not: an atomic operation produces the memory state every later
// store takes, so stores stay in program order around it. It saves the
// locked XCHG that atomic.Store costs (the Go runtime's own StoreRel is that
// XCHG on amd64). The race build uses the atomic form so the detector sees
// the synchronization.
func unclaim(p *uintptr) { *p = 0 }

// storePending claims a per-P pending slot: a plain store, made between
// procPin and procUnpin (calls), before the word's compare-and-swap, a full
// barrier.
func storePending(p *uintptr, e uintptr) { *p = e }
