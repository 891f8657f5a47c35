package release

import (
	"sync/atomic"
	"testing"
)

// TestPublish publishes a payload through each store and reads it back
// behind an atomic load, from another goroutine; under -race the detector
// checks that the store orders the payload before it.
func TestPublish(t *testing.T) {
	var payload [4]uint64
	var w32 uint32
	var w64 uint64
	var wp uintptr
	done := make(chan struct{})
	go func() {
		defer close(done)
		for atomic.LoadUint32(&w32) == 0 {
		}
		for atomic.LoadUint64(&w64) == 0 {
		}
		for atomic.LoadUintptr(&wp) == 0 {
		}
		for i, v := range payload {
			if v != uint64(i+1) {
				t.Errorf("payload[%d] = %d after the release stores, want %d", i, v, i+1)
			}
		}
	}()
	for i := range payload {
		payload[i] = uint64(i + 1)
	}
	Store32(&w32, 1)
	Store64(&w64, 1)
	StoreUintptr(&wp, 1)
	<-done
	if w32 != 1 || w64 != 1 || wp != 1 {
		t.Fatalf("stored values read back as %d %d %d", w32, w64, wp)
	}
}
