// Package race tells the race detector about synchronization it cannot see.
//
// The detector tracks memory only in the Go heap, globals and stacks; atomic
// operations on a mapped shared-memory segment are invisible to it. A lock
// word in a segment that guards an ordinary Go variable would therefore look
// like no synchronization at all. Primitives that synchronize through
// shared memory call Release before publishing (unlock, send) and Acquire
// after observing the publication (lock, receive), naming the shared word's
// address; the package maps that address onto a fixed table of heap-visible
// sync variables so the detector records the happens-before edge.
//
// Distinct addresses may share a table slot. That can only add edges, so it
// may hide a real race between unrelated primitives, never report a false
// one. Without the race build tag every function is an empty inlinable stub.
package race
