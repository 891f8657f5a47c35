package ring

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func newTestSPSC(t testing.TB, slots, slotSize int) *SPSC {
	t.Helper()
	r, err := NewSPSC(heapMem(SPSCSize(slots, slotSize)), slots, slotSize)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitSleeping waits until a waiter has set the sleepers bit of word.
func waitSleeping(t testing.TB, word *uint32) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for loadWord(word)&sleepersBit == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no waiter went to sleep")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSPSCZeroCopy(t *testing.T) {
	r := newTestSPSC(t, 2, 8)
	b, err := r.TryReserve()
	if err != nil || len(b) != 8 {
		t.Fatal(len(b), err)
	}
	copy(b, "hello")
	b2, _ := r.TryReserve()
	if &b2[0] != &b[0] {
		t.Fatal("second Reserve returned another slot")
	}
	if r.Len() != 0 {
		t.Fatal("reserved slot visible")
	}
	if err := r.Commit(5); err != nil {
		t.Fatal(err)
	}
	p, err := r.TryPeek()
	if err != nil || string(p) != "hello" {
		t.Fatalf("%q %v", p, err)
	}
	p2, _ := r.Peek(context.Background())
	if &p2[0] != &p[0] || r.Len() != 1 {
		t.Fatal("second Peek")
	}
	r.Release()
	if r.Len() != 0 {
		t.Fatal("Release did not consume")
	}
	mustPanic(t, "ring: Commit without Reserve", func() { _ = r.Commit(1) })
	mustPanic(t, "ring: Release without Peek", r.Release)
	_, _ = r.Reserve(context.Background())
	mustPanic(t, "ring: Commit length out of range", func() { _ = r.Commit(9) })
	_, _ = r.Reserve(context.Background())
	_ = r.TrySend([]byte("x")) // cancels the reservation
	mustPanic(t, "ring: Commit without Reserve", func() { _ = r.Commit(1) })
	_, _ = r.TryPeek()
	buf := make([]byte, 8)
	if n, err := r.TryRecv(buf); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	mustPanic(t, "ring: Release without Peek", r.Release)
	_, _ = r.Reserve(context.Background())
	_ = r.Close()
	if err := r.Commit(1); err != ErrClosed {
		t.Fatalf("commit after close: %v", err)
	}
	if _, err := r.Peek(context.Background()); err != ErrClosed {
		t.Fatalf("peek after close: %v", err)
	}
	if _, err := r.TryReserve(); err != ErrClosed {
		t.Fatalf("TryReserve after Close: %v, want ErrClosed", err)
	}
}

func loadWord(w *uint32) uint32 { return atomic.LoadUint32(w) }

func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if p := recover(); p != want {
			t.Fatalf("panic %v, want %q", p, want)
		}
	}()
	fn()
}
