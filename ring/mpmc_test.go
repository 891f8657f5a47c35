package ring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func newTestMPMC(t testing.TB, slots, slotSize int) *MPMC {
	t.Helper()
	r, err := NewMPMC(heapMem(MPMCSize(slots, slotSize)), slots, slotSize)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMPMCBasics(t *testing.T) {
	r := newTestMPMC(t, 4, 16)
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

func TestMPMCClose(t *testing.T) {
	r := newTestMPMC(t, 4, 8)
	_ = r.TrySend([]byte("a"))
	_ = r.TrySend([]byte("b"))
	_ = r.Close()
	_ = r.Close()
	if !r.Closed() {
		t.Fatal("not closed")
	}
	if err := r.Send(context.Background(), []byte("c")); err != ErrClosed {
		t.Fatalf("send after close: %v", err)
	}
	if n, err := r.TrySendBatch([][]byte{nil}); n != 0 || err != ErrClosed {
		t.Fatalf("batch after close: %v", err)
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
	if _, err := r.TryRecvBatch([][]byte{buf}); err != ErrClosed {
		t.Fatalf("batch after drain: %v", err)
	}
}

func TestMPMCCloseWakesSleepers(t *testing.T) {
	r := newTestMPMC(t, 2, 8)
	const n = 5
	done := make(chan error, n)
	for range n {
		go func() {
			_, err := r.Recv(context.Background(), make([]byte, 8))
			done <- err
		}()
	}
	waitSleeping(t, &r.c.notEmpty)
	_ = r.Close()
	for range n {
		if err := <-done; err != ErrClosed {
			t.Fatalf("sleeping receiver: %v", err)
		}
	}
	r = newTestMPMC(t, 2, 8)
	_ = r.TrySend(nil)
	_ = r.TrySend(nil)
	for range n {
		go func() { done <- r.Send(context.Background(), []byte("x")) }()
	}
	waitSleeping(t, &r.c.notFull)
	_ = r.Close()
	for range n {
		if err := <-done; err != ErrClosed {
			t.Fatalf("sleeping sender: %v", err)
		}
	}
}

func TestMPMCContext(t *testing.T) {
	r := newTestMPMC(t, 2, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Recv(ctx, make([]byte, 8)); err != context.DeadlineExceeded {
		t.Fatalf("recv: %v", err)
	}
	_ = r.TrySend(nil)
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

func TestMPMCBatch(t *testing.T) {
	r := newTestMPMC(t, 8, 8)
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
	// A message too long for its buffer ends the batch before it.
	bufs[1] = make([]byte, 0)
	n, err = r.RecvBatch(context.Background(), bufs)
	if n != 1 || err != nil || bufs[0][0] != 1 {
		t.Fatal(n, err, bufs)
	}
	if n, err := r.TryRecvBatch(bufs[1:]); n != 0 || err != ErrShortBuffer {
		t.Fatal(n, err)
	}
	bufs[1] = make([]byte, 0, 8)
	if n, err := r.TryRecvBatch(bufs); n != 3 || err != nil || bufs[2][0] != 4 {
		t.Fatal(n, err, bufs)
	}
	if n, err := r.TrySendBatch([][]byte{nil, make([]byte, 9)}); n != 1 || err != ErrTooLarge {
		t.Fatal(n, err)
	}
	if n, err := r.TryRecvBatch(bufs); n != 1 || err != nil || len(bufs[0]) != 0 {
		t.Fatal(n, err)
	}
	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < 20 {
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
		t.Fatal(n, err)
	}
	<-done
	for i, g := range got {
		if len(g) != 1 || g[0] != byte(i%10) {
			t.Fatalf("%d: %v", i, got)
		}
	}
}

func TestMPMCGeometry(t *testing.T) {
	if MPMCSize(1, 8) != 0 || MPMCSize(3, 8) != 0 || MPMCSize(2, 0) != 0 || MPMCSize(MaxSlots*2, 8) != 0 {
		t.Fatal("bad geometry accepted")
	}
	if MPMCSize(2, 1) != ControlSize+2*24 {
		t.Fatal(MPMCSize(2, 1))
	}
	if SPSCSize(1, 1) != ControlSize+16 || SPSCSize(0, 1) != 0 || SPSCSize(4, MaxSlotSize+1) != 0 {
		t.Fatal(SPSCSize(1, 1))
	}
	if SPSCSize(MaxSlots, MaxSlotSize) == 0 {
		t.Fatal("largest geometry refused")
	}
}
