package ring

import (
	"unsafe"

	"github.com/shmkit/shmkit/locks"
)

// eventWord returns the futex word of e. A locks.Event is one 32-bit word
// (docs/layout-locks.md: bit 0 set, bit 1 a waiter may sleep), which
// package locks does not hand out; Select needs its address to wait on it
// with the rings' words. The conversion is valid because the word is all
// there is of an Event: the array below stops the build if that changes,
// and TestEventWord checks the bits.
func eventWord(e *locks.Event) *uint32 { return (*uint32)(unsafe.Pointer(e)) }

// An Event must stay exactly one uint32.
var _ [unsafe.Sizeof(locks.Event{}) - 4]byte
var _ [4 - unsafe.Sizeof(locks.Event{})]byte
