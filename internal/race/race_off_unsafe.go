//go:build !race

package race

// Enabled reports whether the binary was built with -race.
const Enabled = false

// Acquire records that the caller observed a Release on the word at p.
func Acquire[T any](p *T) {}

// Release records a publication on the word at p that a later Acquire
// observes.
func Release[T any](p *T) {}

// Disable and Enable bracket code whose accesses the detector must ignore.
func Disable() {}

// Enable ends a Disable.
func Enable() {}
