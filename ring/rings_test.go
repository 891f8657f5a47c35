package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// Tests of what SPSC and MPMC document alike, run against both rings as
// subtests named after the ring kind (TestRingBasics/spsc,
// TestRingBasics/mpmc). What only one ring has (Reserve/Commit and
// Peek/Release of SPSC, the geometry) is tested in spsc_test.go and
// mpmc_test.go.

// testRing is what the shared tests need of SPSC and MPMC: the calls the
// stress drivers use (anyRing) and the non-blocking ones.
type testRing interface {
	anyRing
	TrySend([]byte) error
	TryRecv([]byte) (int, error)
	TrySendBatch([][]byte) (int, error)
	TryRecvBatch([][]byte) (int, error)
	Cap() int
	Len() int
	Closed() bool
}

// ringKind is one ring type under the shared tests.
type ringKind struct {
	name string
	// minSlots is the smallest ring the type allows.
	minSlots int
	// waiters is how many goroutines may wait on one side at once: one
	// for SPSC (a single producer and a single consumer), several for
	// MPMC.
	waiters int
	new     func(t testing.TB, slots, slotSize int) testRing
}

var ringKinds = []ringKind{
	{name: "spsc", minSlots: 1, waiters: 1, new: func(t testing.TB, slots, slotSize int) testRing {
		return newTestSPSC(t, slots, slotSize)
	}},
	{name: "mpmc", minSlots: 2, waiters: 5, new: func(t testing.TB, slots, slotSize int) testRing {
		return newTestMPMC(t, slots, slotSize)
	}},
}

// forEachRing runs test as a subtest for each ring kind.
func forEachRing(t *testing.T, test func(t *testing.T, k ringKind)) {
	for _, k := range ringKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k) })
	}
}

// ringControl returns the control block of r, whose wait words the tests
// watch.
func ringControl(r testRing) *control {
	switch r := r.(type) {
	case *SPSC:
		return r.c
	case *MPMC:
		return r.c
	}
	panic(fmt.Sprintf("ringControl: %T", r))
}

func TestRingBasics(t *testing.T) {
	forEachRing(t, func(t *testing.T, k ringKind) {
		r := k.new(t, 4, 16)
		if r.Cap() != 4 || r.SlotSize() != 16 || r.Len() != 0 {
			t.Fatalf("Cap %d SlotSize %d Len %d, want 4 16 0", r.Cap(), r.SlotSize(), r.Len())
		}
		buf := make([]byte, 16)
		if _, err := r.TryRecv(buf); err != ErrEmpty {
			t.Fatalf("TryRecv on empty: %v, want ErrEmpty", err)
		}
		for i := range 4 {
			if err := r.TrySend([]byte{byte(i), 1, 2}); err != nil {
				t.Fatalf("TrySend %d: %v, want nil", i, err)
			}
		}
		if err := r.TrySend(nil); err != ErrFull {
			t.Fatalf("TrySend on full: %v, want ErrFull", err)
		}
		if r.Len() != 4 {
			t.Fatalf("Len %d, want 4", r.Len())
		}
		if err := r.TrySend(make([]byte, 17)); err != ErrTooLarge {
			t.Fatalf("TrySend of 17 bytes: %v, want ErrTooLarge", err)
		}
		if n, err := r.TryRecv(buf[:2]); err != ErrShortBuffer || n != 3 || !errors.Is(err, io.ErrShortBuffer) {
			t.Fatalf("TryRecv of 3 bytes into 2: %d %v, want 3 ErrShortBuffer (an io.ErrShortBuffer)", n, err)
		}
		for i := range 4 {
			n, err := r.TryRecv(buf)
			if err != nil || !bytes.Equal(buf[:n], []byte{byte(i), 1, 2}) {
				t.Fatalf("TryRecv %d: %v %x, want nil %x", i, err, buf[:n], []byte{byte(i), 1, 2})
			}
		}
		// Wrap around several times with empty and full-size messages.
		for i := range 40 {
			msg := bytes.Repeat([]byte{byte(i)}, i%17)
			if err := r.Send(context.Background(), msg); err != nil {
				t.Fatalf("Send round %d: %v, want nil", i, err)
			}
			n, err := r.Recv(context.Background(), buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("Recv round %d: %v %x, want nil %x", i, err, buf[:n], msg)
			}
		}
	})
}

func TestRingClose(t *testing.T) {
	forEachRing(t, func(t *testing.T, k ringKind) {
		r := k.new(t, 4, 8)
		_ = r.TrySend([]byte("a"))
		_ = r.TrySend([]byte("b"))
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v, want nil", err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v, want nil", err)
		}
		if !r.Closed() {
			t.Fatal("Closed after Close: false, want true")
		}
		if err := r.TrySend([]byte("c")); err != ErrClosed {
			t.Fatalf("TrySend after Close: %v, want ErrClosed", err)
		}
		if err := r.Send(context.Background(), []byte("c")); err != ErrClosed {
			t.Fatalf("Send after Close: %v, want ErrClosed", err)
		}
		if n, err := r.TrySendBatch([][]byte{nil}); n != 0 || err != ErrClosed {
			t.Fatalf("TrySendBatch after Close: %d %v, want 0 ErrClosed", n, err)
		}
		buf := make([]byte, 8)
		for _, want := range []string{"a", "b"} {
			n, err := r.Recv(context.Background(), buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("drain: %q %v, want %q nil", buf[:n], err, want)
			}
		}
		if _, err := r.Recv(context.Background(), buf); err != ErrClosed {
			t.Fatalf("Recv after drain: %v, want ErrClosed", err)
		}
		if _, err := r.TryRecv(buf); err != ErrClosed {
			t.Fatalf("TryRecv after drain: %v, want ErrClosed", err)
		}
		if _, err := r.TryRecvBatch([][]byte{buf}); err != ErrClosed {
			t.Fatalf("TryRecvBatch after drain: %v, want ErrClosed", err)
		}
	})
}

func TestRingCloseWakesSleepers(t *testing.T) {
	forEachRing(t, func(t *testing.T, k ringKind) {
		r := k.new(t, 2, 8)
		done := make(chan error, k.waiters)
		for range k.waiters {
			go func() {
				_, err := r.Recv(context.Background(), make([]byte, 8))
				done <- err
			}()
		}
		waitSleeping(t, &ringControl(r).notEmpty)
		_ = r.Close()
		for range k.waiters {
			if err := <-done; err != ErrClosed {
				t.Fatalf("sleeping receiver: %v, want ErrClosed", err)
			}
		}

		r = k.new(t, 2, 8)
		_ = r.TrySend(nil)
		_ = r.TrySend(nil)
		for range k.waiters {
			go func() { done <- r.Send(context.Background(), []byte("x")) }()
		}
		waitSleeping(t, &ringControl(r).notFull)
		_ = r.Close()
		for range k.waiters {
			if err := <-done; err != ErrClosed {
				t.Fatalf("sleeping sender: %v, want ErrClosed", err)
			}
		}
	})
}

func TestRingContext(t *testing.T) {
	forEachRing(t, func(t *testing.T, k ringKind) {
		r := k.new(t, k.minSlots, 8)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := r.Recv(ctx, make([]byte, 8)); err != context.DeadlineExceeded {
			t.Fatalf("Recv on empty: %v, want context.DeadlineExceeded", err)
		}
		for range r.Cap() {
			_ = r.TrySend(nil)
		}
		ctx, cancel = context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Send(ctx, nil) }()
		waitSleeping(t, &ringControl(r).notFull)
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("Send on full: %v, want context.Canceled", err)
		}
	})
}

func TestRingBatch(t *testing.T) {
	forEachRing(t, func(t *testing.T, k ringKind) {
		r := k.new(t, 8, 8)
		msgs := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
		if n, err := r.TrySendBatch(msgs); n != 3 || err != nil {
			t.Fatalf("TrySendBatch of 3: %d %v, want 3 nil", n, err)
		}
		big := make([][]byte, 10)
		for i := range big {
			big[i] = []byte{byte(i)}
		}
		if n, err := r.TrySendBatch(big); n != 5 || err != ErrFull {
			t.Fatalf("TrySendBatch of 10 into 5 free: %d %v, want 5 ErrFull", n, err)
		}
		bufs := make([][]byte, 4)
		for i := range bufs {
			bufs[i] = make([]byte, 0, 8)
		}
		n, err := r.TryRecvBatch(bufs)
		if n != 4 || err != nil || string(bufs[0]) != "a" || string(bufs[2]) != "ccc" || bufs[3][0] != 0 {
			t.Fatalf("TryRecvBatch: %d %v %q, want 4 nil [a bb ccc \\x00]", n, err, bufs[:n])
		}
		n, err = r.RecvBatch(context.Background(), bufs)
		if n != 4 || err != nil || bufs[0][0] != 1 || bufs[3][0] != 4 {
			t.Fatalf("RecvBatch: %d %v %v, want 4 nil [[1] [2] [3] [4]]", n, err, bufs[:n])
		}

		// A message too long for its buffer ends the batch before it.
		if n, err := r.TrySendBatch(big[1:5]); n != 4 || err != nil {
			t.Fatalf("TrySendBatch of 4: %d %v, want 4 nil", n, err)
		}
		bufs[1] = make([]byte, 0)
		n, err = r.RecvBatch(context.Background(), bufs)
		if n != 1 || err != nil || bufs[0][0] != 1 {
			t.Fatalf("RecvBatch with a 0-byte second buffer: %d %v %v, want 1 nil [[1]]", n, err, bufs[:n])
		}
		if n, err := r.TryRecvBatch(bufs[1:]); n != 0 || err != ErrShortBuffer {
			t.Fatalf("TryRecvBatch with a 0-byte first buffer: %d %v, want 0 ErrShortBuffer", n, err)
		}
		bufs[1] = make([]byte, 0, 8)
		if n, err := r.TryRecvBatch(bufs); n != 3 || err != nil || bufs[2][0] != 4 {
			t.Fatalf("TryRecvBatch: %d %v %v, want 3 nil [[2] [3] [4]]", n, err, bufs[:n])
		}

		// A batch stops at a message too long for a slot; the prefix is sent.
		if n, err := r.TrySendBatch([][]byte{nil, make([]byte, 9)}); n != 1 || err != ErrTooLarge {
			t.Fatalf("TrySendBatch of 0 and 9 bytes: %d %v, want 1 ErrTooLarge", n, err)
		}
		if n, err := r.TryRecvBatch(bufs); n != 1 || err != nil || len(bufs[0]) != 0 {
			t.Fatalf("TryRecvBatch: %d %v %v, want 1 nil [[]]", n, err, bufs[:n])
		}

		// Blocking batch larger than the ring, drained concurrently, after
		// a message already waiting.
		if err := r.TrySend(nil); err != nil {
			t.Fatalf("TrySend: %v, want nil", err)
		}
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
		if n, err := r.SendBatch(context.Background(), append(big, big...)); n != 20 || err != nil {
			t.Fatalf("SendBatch of 20 into 8 slots: %d %v, want 20 nil", n, err)
		}
		<-done
		if len(got) != 21 || len(got[0]) != 0 {
			t.Fatalf("received %v, want [] then [0] to [9] twice", got)
		}
		for i, g := range got[1:] {
			if len(g) != 1 || g[0] != byte(i%10) {
				t.Fatalf("message %d: %v, want [%d] (all: %v)", i+1, g, i%10, got)
			}
		}
	})
}
