package ring

import (
	"bytes"
	"context"
	"errors"
	"io"
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

func TestSPSCBasics(t *testing.T) {
	r := newTestSPSC(t, 4, 16)
	if r.Cap() != 4 || r.SlotSize() != 16 || r.Len() != 0 {
		t.Fatalf("Cap %d SlotSize %d Len %d", r.Cap(), r.SlotSize(), r.Len())
	}
	buf := make([]byte, 16)
	if _, err := r.TryRecv(buf); err != ErrEmpty {
		t.Fatalf("TryRecv on empty: %v", err)
	}
	for i := range 4 {
		if err := r.TrySend([]byte{byte(i), 1, 2}); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := r.TrySend(nil); err != ErrFull {
		t.Fatalf("TrySend on full: %v", err)
	}
	if r.Len() != 4 {
		t.Fatalf("Len %d", r.Len())
	}
	if err := r.TrySend(make([]byte, 17)); err != ErrTooLarge {
		t.Fatalf("too large: %v", err)
	}
	if n, err := r.TryRecv(buf[:2]); err != ErrShortBuffer || n != 3 || !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("short buffer: %d %v", n, err)
	}
	for i := range 4 {
		n, err := r.TryRecv(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte{byte(i), 1, 2}) {
			t.Fatalf("recv %d: %v %x", i, err, buf[:n])
		}
	}
	// Wrap around several times with empty and full-size messages.
	for i := range 40 {
		msg := bytes.Repeat([]byte{byte(i)}, i%17)
		if err := r.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		n, err := r.Recv(context.Background(), buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}

func TestSPSCClose(t *testing.T) {
	r := newTestSPSC(t, 4, 8)
	_ = r.TrySend([]byte("a"))
	_ = r.TrySend([]byte("b"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	if !r.Closed() {
		t.Fatal("not closed")
	}
	if err := r.TrySend([]byte("c")); err != ErrClosed {
		t.Fatalf("send after close: %v", err)
	}
	if err := r.Send(context.Background(), []byte("c")); err != ErrClosed {
		t.Fatalf("send after close: %v", err)
	}
	if _, err := r.TryReserve(); err != ErrClosed {
		t.Fatalf("reserve after close: %v", err)
	}
	buf := make([]byte, 8)
	for _, want := range []string{"a", "b"} {
		n, err := r.Recv(context.Background(), buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("drain: %q %v", buf[:n], err)
		}
	}
	if _, err := r.Recv(context.Background(), buf); err != ErrClosed {
		t.Fatalf("recv after drain: %v", err)
	}
	if _, err := r.TryRecv(buf); err != ErrClosed {
		t.Fatalf("tryrecv after drain: %v", err)
	}
}

func TestSPSCCloseWakesSleepers(t *testing.T) {
	r := newTestSPSC(t, 2, 8)
	done := make(chan error, 1)
	go func() {
		_, err := r.Recv(context.Background(), make([]byte, 8))
		done <- err
	}()
	waitSleeping(t, &r.c.notEmpty)
	_ = r.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("sleeping receiver: %v", err)
	}

	r = newTestSPSC(t, 2, 8)
	_ = r.TrySend(nil)
	_ = r.TrySend(nil)
	go func() { done <- r.Send(context.Background(), []byte("x")) }()
	waitSleeping(t, &r.c.notFull)
	_ = r.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("sleeping sender: %v", err)
	}
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

func TestSPSCContext(t *testing.T) {
	r := newTestSPSC(t, 1, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Recv(ctx, make([]byte, 8)); err != context.DeadlineExceeded {
		t.Fatalf("recv: %v", err)
	}
	_ = r.TrySend(nil)
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Send(ctx, nil) }()
	waitSleeping(t, &r.c.notFull)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("send: %v", err)
	}
}

func TestSPSCBatch(t *testing.T) {
	r := newTestSPSC(t, 8, 8)
	msgs := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
	if n, err := r.TrySendBatch(msgs); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	big := make([][]byte, 10)
	for i := range big {
		big[i] = []byte{byte(i)}
	}
	if n, err := r.TrySendBatch(big); n != 5 || err != ErrFull {
		t.Fatal(n, err)
	}
	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = make([]byte, 0, 8)
	}
	n, err := r.TryRecvBatch(bufs)
	if n != 4 || err != nil || string(bufs[0]) != "a" || string(bufs[2]) != "ccc" || bufs[3][0] != 0 {
		t.Fatal(n, err, bufs)
	}
	n, err = r.RecvBatch(context.Background(), bufs)
	if n != 4 || err != nil || bufs[3][0] != 4 {
		t.Fatal(n, err, bufs)
	}
	if n, err := r.TrySendBatch([][]byte{nil, make([]byte, 9)}); n != 1 || err != ErrTooLarge {
		t.Fatal(n, err)
	}
	// Blocking batch larger than the ring, drained concurrently.
	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < 21 {
			n, err := r.RecvBatch(context.Background(), bufs)
			if err != nil {
				t.Error(err)
				return
			}
			for _, b := range bufs[:n] {
				got = append(got, bytes.Clone(b))
			}
		}
	}()
	if n, err := r.SendBatch(context.Background(), append(big, big[:10]...)); n != 20 || err != nil {
		t.Fatal(n, err)
	}
	<-done
	if len(got) != 21 || len(got[0]) != 0 || got[1][0] != 0 || got[20][0] != 9 {
		t.Fatalf("%v", got)
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
