package ring

import "unsafe"

// rawBytes returns the memory of *p as a byte slice, for values of a raw
// queue: Queue checked once, when it was made or opened, that T holds no
// Go pointers (codec.Of.Raw), which ctypes.Bytes would check again on
// every call.
func rawBytes[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}
