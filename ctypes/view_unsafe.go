package ctypes

import "unsafe"

// This file holds the package's only unsafe code: turning checked byte
// memory into typed pointers. The safe callers in view.go establish every
// precondition listed here; nothing else may call these functions.

// addressOf returns the address of mem's first byte. It is a number for
// alignment arithmetic, never turned back into a pointer.
func addressOf(mem []byte) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
}

// pointerTo returns mem[0:] viewed as a *T.
//
// Preconditions:
//   - T holds no Go pointers: the memory may be outside the Go heap (mmap'd)
//     or typed []byte inside it, and in both cases the garbage collector would
//     not see pointers stored there;
//   - 0 < unsafe.Sizeof(T) <= len(mem), so the value lies inside mem and
//     mem[0] exists;
//   - the address of mem[0] is a multiple of unsafe.Alignof(T).
//
// When mem is in the Go heap, the result is an interior pointer into mem's
// backing array and keeps it alive, as a sub-slice would.
func pointerTo[T any](mem []byte) *T {
	return (*T)(unsafe.Pointer(unsafe.SliceData(mem)))
}

// sliceAt returns mem viewed as n values of T, with capacity n so an append
// reallocates instead of writing past the checked bytes.
//
// Preconditions: those of pointerTo, with n >= 1 and
// n*unsafe.Sizeof(T) <= len(mem) (computed without overflow).
func sliceAt[T any](mem []byte, n int) []T {
	return unsafe.Slice(pointerTo[T](mem), n)
}

// bytesOf returns the memory of *p as bytes.
//
// Precondition: T holds no Go pointers (the bytes may be copied anywhere).
func bytesOf[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}
