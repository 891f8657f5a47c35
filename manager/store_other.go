//go:build !amd64 || race

package manager

import "sync/atomic"

// storeRel64 stores v at p with (at least) release ordering.
func storeRel64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
