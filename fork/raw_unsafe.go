package fork

import "unsafe"

// rawSlice is the memory of s as bytes. Only called for element types the
// codec found pointer-free (Task.rawBatch), so the bytes may be copied
// anywhere and back.
func rawSlice[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}
