//go:build amd64 && !race

package rawarray

// storeRel64 and storeRel32 store with release ordering: on amd64 a plain
// store (x86-TSO never reorders a store with earlier loads or stores, and
// the call boundary of a function that is not inlined keeps the compiler
// from moving accesses across it), which saves the locked XCHG of
// atomic.Store. An aligned store of 4 or 8 bytes is atomic: readers never
// see it torn. The race build uses the atomic forms so the detector sees
// the synchronization.

//go:noinline
func storeRel64(p *uint64, v uint64) { *p = v }

//go:noinline
func storeRel32(p *uint32, v uint32) { *p = v }
