package locks

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/race"
)

// Event is a process-shared flag that goroutines and processes wait for
// (Python's Event). The zero value is an unset Event.
//
// Memory layout (4 bytes, 4-byte aligned):
//
//	offset size field
//	0      4    word  futex word: bit 0 set; bit 1 a waiter may sleep in
//	                  the kernel (Set wakes everyone then). Other bits are
//	                  ignored.
//
// Set synchronizes before every Wait that returns because of it.
type Event struct {
	word uint32
}

const (
	eventSet     = 1
	eventWaiters = 2
)

// Set sets the event and wakes every waiter.
func (e *Event) Set() {
	race.Release(e)
	if old := atomic.SwapUint32(&e.word, eventSet); old&eventWaiters != 0 {
		park.Wake(&e.word, park.WakeAll)
	}
}

// Clear unsets the event.
func (e *Event) Clear() { atomic.AndUint32(&e.word, ^uint32(eventSet)) }

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool {
	if atomic.LoadUint32(&e.word)&eventSet != 0 {
		race.Acquire(e)
		return true
	}
	return false
}

// WaitWord returns the event's futex word and the bit of it that announces
// a sleeper, for code that waits on the event together with other futex
// words in one FUTEX_WAITV (ring.Select does). Such a waiter runs the
// protocol of Wait: it sets the bit (v = load(word), CAS(word, v, v|bit)),
// re-checks IsSet, and only then sleeps with the value it stored; Set wakes
// every sleeper when it finds the bit set. The word stays valid as long as
// e's memory does.
func (e *Event) WaitWord() (word *uint32, announce uint32) { return &e.word, eventWaiters }

// Wait blocks until the event is set, or returns ctx.Err() when ctx ends
// first. It returns at once if the event is set.
func (e *Event) Wait(ctx context.Context) error {
	if e.IsSet() || spin(e.IsSet) {
		return nil
	}
	for {
		w := atomic.LoadUint32(&e.word)
		if w&eventSet != 0 {
			race.Acquire(e)
			return nil
		}
		if w&eventWaiters == 0 && !atomic.CompareAndSwapUint32(&e.word, w, w|eventWaiters) {
			continue
		}
		if err := park.Wait(ctx, &e.word, w|eventWaiters, 0); err != nil {
			return err
		}
	}
}
