package shm

import "unsafe"

func baseOf(data []byte) uintptr {
	if len(data) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(data)))
}

// Locate finds the live segment holding the whole value *p and returns a
// reference to it and the value's offset. It reports false for memory
// outside every live segment (the Go heap, say).
func Locate[T any](p *T) (Ref, int64, bool) {
	addr := uintptr(unsafe.Pointer(p))
	size := unsafe.Sizeof(*p)
	live.mu.Lock()
	defer live.mu.Unlock()
	for _, r := range live.m {
		if r.base != 0 && addr >= r.base && addr-r.base <= uintptr(len(r.data)) && size <= uintptr(len(r.data))-(addr-r.base) {
			ref := Ref{Name: r.name, PID: selfPid, ID: r.id, Size: r.size}
			noteRef(ref) // tracking's lock is not live.mu: no ordering issue
			return ref, int64(addr - r.base), true
		}
	}
	return Ref{}, 0, false
}
