//go:build amd64 && !race

package locks

// unclaim ends the pending cover with a plain store. On amd64 every store
// is a release store (x86-TSO: a store is not reordered with earlier loads
// or stores), and the call boundary of a function that is not inlined keeps
// the compiler from moving the list edits below it. This is how the Go
// runtime implements its own release stores on amd64 (StoreRel), and it
// saves the locked XCHG that atomic.Store costs. The race build uses the
// atomic form so the detector sees the synchronization.
//
//go:noinline
func unclaim() { anchor.head.ListOpPending = 0 }
