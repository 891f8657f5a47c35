//go:build amd64 && !race

package manager

// storeRel64 stores v at p with release ordering: on amd64 a plain store
// (x86-TSO never reorders stores with earlier loads or stores, and the
// call boundary of a function that is not inlined keeps the compiler from
// moving accesses across it), which saves the locked XCHG of
// atomic.StoreUint64. Used for values published under an object's lock
// and read by lock-free readers with atomic loads. The race build uses the
// atomic form so the detector sees the synchronization.
//
//go:noinline
func storeRel64(p *uint64, v uint64) { *p = v }
