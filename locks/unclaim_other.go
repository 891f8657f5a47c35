//go:build !amd64 || race

package locks

import "sync/atomic"

// unclaim releases the robust list with a release store.
func unclaim() { atomic.StoreUintptr(&anchor.head.ListOpPending, 0) }
