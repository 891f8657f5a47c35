//go:build !amd64 || race

package locks

import "sync/atomic"

// unclaim ends the pending cover with a release store.
func unclaim() { atomic.StoreUintptr(&anchor.head.ListOpPending, 0) }
