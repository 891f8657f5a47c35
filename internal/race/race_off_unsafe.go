//go:build !race

package race

import "unsafe"

// Enabled reports whether the binary was built with -race.
const Enabled = false

// Acquire records that the caller observed a Release on addr.
func Acquire(addr unsafe.Pointer) {}

// Release records a publication on addr that a later Acquire observes.
func Release(addr unsafe.Pointer) {}

// Disable and Enable bracket code whose accesses the detector must ignore.
func Disable() {}

// Enable ends a Disable.
func Enable() {}
