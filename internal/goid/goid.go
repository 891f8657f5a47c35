// Package goid identifies the calling goroutine cheaply.
//
// Current returns the address of the runtime's goroutine descriptor (g),
// read from thread-local storage by a two-instruction assembly function on
// amd64 and arm64, and parsed from runtime.Stack elsewhere. The value is
// unique among the live goroutines of a process and constant for a
// goroutine's life; after a goroutine exits its descriptor may be reused,
// so the value identifies a goroutine only while it runs. It means nothing
// in another process.
package goid
