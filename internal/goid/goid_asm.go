//go:build amd64 || arm64

package goid

// Current returns the calling goroutine's identifier.
//
//go:noescape
func Current() uintptr
