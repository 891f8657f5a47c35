//go:build !amd64 || race

package locks

import "sync/atomic"

// unclaim ends a pending cover with a release store.
func unclaim(p *uintptr) { atomic.StoreUintptr(p, 0) }

// storePending claims a per-P pending slot.
func storePending(p *uintptr, e uintptr) { atomic.StoreUintptr(p, e) }
