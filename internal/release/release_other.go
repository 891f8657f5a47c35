//go:build !amd64 || race

package release

import "sync/atomic"

// Store32 stores v at p with (at least) release ordering.
func Store32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// Store64 stores v at p with (at least) release ordering.
func Store64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// StoreUintptr stores v at p with (at least) release ordering.
func StoreUintptr(p *uintptr, v uintptr) { atomic.StoreUintptr(p, v) }
