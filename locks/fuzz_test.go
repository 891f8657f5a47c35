package locks

import (
	"context"
	"strings"
	"testing"
)

// FuzzPrimitives fills each primitive with arbitrary bytes, as a hostile
// process could, and calls every method with a context that has already
// ended. Nothing may panic except with a documented "locks: " misuse
// message, and nothing may hang. Heap-backed, so -race and checkptr watch
// the accesses.
func FuzzPrimitives(f *testing.F) {
	f.Add(make([]byte, 600))
	f.Add([]byte{0xff, 0xff, 0xff, 0x3f, 1, 2, 3, 4})
	f.Add([]byte{0, 0, 0, 0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		done, cancel := context.WithCancel(context.Background())
		cancel()
		call := func(name string, fn func()) {
			defer func() {
				if p := recover(); p != nil {
					if s, ok := p.(string); !ok || !strings.HasPrefix(s, "locks: ") {
						t.Fatalf("%s panicked on garbage: %v", name, p)
					}
				}
				if n := heldCount(); n != 0 {
					t.Fatalf("%s: %d locks left held", name, n)
				}
			}()
			fn()
		}
		var m Mutex
		fillValue(&m, data)
		call("Mutex", func() {
			if m.TryLock() {
				m.Unlock()
			}
			if err := m.LockContext(done); err == nil || err == ErrOwnerDead {
				m.MarkConsistent()
				m.Unlock()
			}
		})
		call("Mutex.Unlock", func() { fillValue(&m, data); m.Unlock() })

		var r RMutex
		fillValue(&r, data)
		call("RMutex", func() {
			if r.TryLock() {
				r.Unlock()
			}
			if err := r.LockContext(done); err == nil || err == ErrOwnerDead {
				r.MarkConsistent()
				r.Unlock()
			}
		})

		var s BoundedSemaphore
		fillValue(&s, data)
		call("Semaphore", func() {
			_ = s.Value()
			_ = s.Bound()
			if s.TryAcquire() {
				_ = s.Release()
			}
			_ = s.Acquire(done)
			_ = s.Release()
			s.Semaphore.Release()
		})

		var e Event
		fillValue(&e, data)
		call("Event", func() {
			_ = e.IsSet()
			_ = e.Wait(done)
			e.Clear()
			_ = e.Wait(done)
			e.Set()
		})

		var c Cond
		var cm Mutex
		fillValue(&c, data)
		call("Cond", func() {
			c.Signal()
			c.Broadcast()
			cm.Lock()
			defer cm.Unlock()
			_ = c.WaitContext(done, &cm)
		})

		var b Barrier
		fillValue(&b, data)
		call("Barrier", func() {
			_, _, _ = b.Parties(), b.Waiting(), b.Broken()
			_, _ = b.Wait(done)
			// Abort and Reset wait for the barrier's lock as long as it
			// takes; garbage can make it look held by a live process.
			if b.mu.TryLock() {
				b.mu.Unlock()
				b.Abort()
				b.Reset()
			}
			_, _ = b.Wait(done)
		})
	})
}
