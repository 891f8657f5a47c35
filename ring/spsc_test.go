package ring

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
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

// TestSPSCCloseRace closes the ring while a sender and a receiver run:
// every Send that returned nil must be received, in order, and the
// receiver must end with ErrClosed (spsc.go, "Close"; close_model_test.go
// checks the same on every interleaving of a smaller model). Sends come
// one at a time and in batches; the receiver uses Recv and RecvBatch.
func TestSPSCCloseRace(t *testing.T) {
	rounds := scaled(400, 100, 100)
	for round := range rounds {
		r := newTestSPSC(t, 4, 8)
		var sent atomic.Uint64
		done := make(chan struct{})
		go func() { // sender
			defer close(done)
			msg := make([]byte, 8)
			batch := [][]byte{make([]byte, 8), make([]byte, 8), make([]byte, 8)}
			for i := uint64(0); ; {
				var n int
				var err error
				if round%2 == 0 {
					binary.NativeEndian.PutUint64(msg, i)
					err = r.Send(context.Background(), msg)
					if err == nil {
						n = 1
					}
				} else {
					for k, b := range batch {
						binary.NativeEndian.PutUint64(b, i+uint64(k))
					}
					n, err = r.SendBatch(context.Background(), batch)
				}
				i += uint64(n)
				sent.Store(i)
				if err == ErrClosed {
					return
				}
				if err != nil {
					t.Errorf("round %d: send: %v", round, err)
					return
				}
			}
		}()
		go func() { // closer
			for range round % 40 { // from before the first send to mid-stream
				runtime.Gosched()
			}
			_ = r.Close()
		}()
		var got uint64
		bufs := [][]byte{make([]byte, 8), make([]byte, 8)}
		for {
			var n int
			var err error
			if round%3 == 0 {
				n, err = r.RecvBatch(context.Background(), bufs)
			} else {
				var l int
				l, err = r.Recv(context.Background(), bufs[0])
				bufs[0] = bufs[0][:l]
				if err == nil {
					n = 1
				}
			}
			for _, b := range bufs[:n] {
				if v := binary.NativeEndian.Uint64(b); len(b) != 8 || v != got {
					t.Fatalf("round %d: message %d holds %d", round, got, v)
				}
				got++
			}
			if err == ErrClosed {
				break
			}
			if err != nil {
				t.Fatalf("round %d: recv: %v", round, err)
			}
		}
		<-done
		if s := sent.Load(); got != s {
			t.Fatalf("round %d: %d messages sent, %d received", round, s, got)
		}
	}
}

// TestSPSCLargeMessages sends messages from below to above the length from
// which Send streams them into the slot (internal/stream), at odd lengths,
// and checks every byte received.
func TestSPSCLargeMessages(t *testing.T) {
	r := newTestSPSC(t, 2, 100<<10)
	buf := make([]byte, 100<<10)
	for i, n := range []int{32<<10 - 1, 32 << 10, 32<<10 + 1, 70_001, 100 << 10} {
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = byte(i*31 + j*7)
		}
		if err := r.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		got, err := r.Recv(context.Background(), buf)
		if err != nil || got != n || !bytes.Equal(buf[:got], msg) {
			t.Fatalf("message of %d bytes: received %d, %v, equal %v", n, got, err, bytes.Equal(buf[:got], msg))
		}
	}
}
