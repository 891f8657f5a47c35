package sys

import "unsafe"

func uintptrOf(h *RobustListHead) uintptr { return uintptr(unsafe.Pointer(h)) }
