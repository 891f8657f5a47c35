package rawarray

import (
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/locks"
)

// TestLayout pins the published memory layout (doc.go, layout.go).
// Changing any of it is a format change and bumps the header's version.
func TestLayout(t *testing.T) {
	check := func(name string, got, want uintptr) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	var h header
	check("Sizeof(header)", unsafe.Sizeof(h), HeaderSize)
	check("HeaderSize", HeaderSize, 32)
	check("Alignof(header)", unsafe.Alignof(h), Align)
	check("header.magic", unsafe.Offsetof(h.magic), 0)
	check("header.version", unsafe.Offsetof(h.version), 4)
	check("header.kind", unsafe.Offsetof(h.kind), 6)
	check("header.code", unsafe.Offsetof(h.code), 7)
	check("header.elemSize", unsafe.Offsetof(h.elemSize), 8)
	check("header.lockKind", unsafe.Offsetof(h.lockKind), 10)
	check("header.flags", unsafe.Offsetof(h.flags), 11)
	check("header.dataOff", unsafe.Offsetof(h.dataOff), 12)
	check("header.length", unsafe.Offsetof(h.length), 16)
	check("header.reserved", unsafe.Offsetof(h.reserved), 24)

	var m locks.Mutex
	check("Sizeof(locks.Mutex)", unsafe.Sizeof(m), 16)
	check("Alignof(locks.Mutex)", unsafe.Alignof(m), 8)
	if unsafe.Sizeof(m) > lockSlotSize {
		t.Errorf("the lock slot (%d bytes) has no room for a locks.Mutex (%d)", lockSlotSize, unsafe.Sizeof(m))
	}
	check("syncDataOff", syncDataOff, 56)
	check("rawDataOff", rawDataOff, 32)
	check("ValueSize", ValueSize, 64)
	check("RawValueSize", RawValueSize, 40)
	check("magic", magic, 0x41524853)
	check("version", version, 1)
	if string((*[4]byte)(unsafe.Pointer(&[]uint32{magic}[0]))[:]) != "SHRA" && !bigEndian {
		t.Errorf("magic is not \"SHRA\" in little-endian memory")
	}
}
