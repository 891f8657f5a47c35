//go:build race

package race

import (
	"runtime"
	"unsafe"
)

// Enabled reports whether the binary was built with -race.
const Enabled = true

const slots = 1 << 12

// syncVars are globals, which the detector tracks; shared-memory addresses
// are not.
var syncVars [slots]uint64

func slot(addr unsafe.Pointer) unsafe.Pointer {
	a := uintptr(addr)
	a ^= a >> 12
	a *= 0x9E3779B97F4A7C15
	return unsafe.Pointer(&syncVars[(a>>52)%slots])
}

// Acquire records that the caller observed a Release on the word at p.
func Acquire[T any](p *T) { runtime.RaceAcquire(slot(unsafe.Pointer(p))) }

// Release records a publication on the word at p that a later Acquire
// observes.
func Release[T any](p *T) { runtime.RaceReleaseMerge(slot(unsafe.Pointer(p))) }

// Disable and Enable bracket code whose accesses the detector must ignore.
func Disable() { runtime.RaceDisable() }

// Enable ends a Disable.
func Enable() { runtime.RaceEnable() }
