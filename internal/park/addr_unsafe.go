package park

import "unsafe"

// addrKey identifies a word by its address in this process. Two mappings of
// one segment give two keys; that only splits coalescing, never merges
// distinct words.
func addrKey(addr *uint32) uintptr { return uintptr(unsafe.Pointer(addr)) }
