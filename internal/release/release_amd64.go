//go:build amd64 && !race

package release

// On amd64 a release store is a plain store: x86-TSO never reorders a
// store with earlier loads or stores. The call boundary of a function that
// is not inlined keeps the compiler from moving the caller's accesses
// across it. An aligned store of 4 or 8 bytes is atomic: readers never see
// it torn. This saves the locked XCHG of atomic.Store (which the Go
// runtime's own StoreRel also costs on amd64).

// Store32 stores v at p with release ordering.
//
//go:noinline
func Store32(p *uint32, v uint32) { *p = v }

// Store64 stores v at p with release ordering.
//
//go:noinline
func Store64(p *uint64, v uint64) { *p = v }

// StoreUintptr stores v at p with release ordering.
//
//go:noinline
func StoreUintptr(p *uintptr, v uintptr) { *p = v }
