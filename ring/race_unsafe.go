package ring

import (
	"github.com/shmkit/shmkit/internal/race"
)

// This file holds the package's only unsafe code: naming shared words to
// the race detector. Without the race build tag both functions compile to
// nothing.
//
// A ring synchronizes through atomics on its shared words. On memory the
// detector tracks (a []byte from make) it sees them; on a mapped segment it
// does not, and a Go variable written before Send and read after Recv would
// look unsynchronized. So every publication also calls raceRelease on the
// word it publishes through, and every consumption of it raceAcquire.

// raceAnnotate is switched off only by a test that shows the annotations
// are needed.
var raceAnnotate = true

func raceRelease(word *uint64) {
	if race.Enabled && raceAnnotate {
		race.Release(word)
	}
}

func raceAcquire(word *uint64) {
	if race.Enabled && raceAnnotate {
		race.Acquire(word)
	}
}
