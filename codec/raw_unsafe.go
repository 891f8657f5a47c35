package codec

import "unsafe"

// rawBytes is the memory of *p. Only called for types For found
// pointer-free, so the bytes may be copied anywhere; it skips the per-call
// type check of ctypes.Bytes, which costs more than the copy.
func rawBytes[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}
