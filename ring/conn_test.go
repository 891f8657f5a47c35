package ring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

func init() {
	// pipe-echo: args ref (JSON) — open the end (its segment is descriptor
	// 3) and echo every message until the peer closes.
	roles["pipe-echo"] = func() int {
		var r ConnRef
		if err := json.Unmarshal([]byte(proctest.Args()[0]), &r); err != nil {
			proctest.Fail("ref: %v", err)
		}
		shm.Adopt(r.Seg.PID, r.Seg.ID, 3)
		c, err := OpenConn(r)
		if err != nil {
			proctest.Fail("open: %v", err)
		}
		ctx := context.Background()
		for {
			msg, err := c.Recv(ctx)
			if errors.Is(err, io.EOF) {
				return 0
			}
			if err != nil {
				proctest.Fail("recv: %v", err)
			}
			if err := c.Send(ctx, msg); err != nil {
				proctest.Fail("send: %v", err)
			}
		}
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func message(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func TestPipeInProcess(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := PipeWith(true, &PipeOptions{Slots: 4, SlotSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	sizes := []int{0, 1, 250, 251, 252, 256, 1000, 100_000}
	go func() {
		for i, n := range sizes {
			if err := a.Send(ctx, message(n, byte(i))); err != nil {
				t.Error(err)
			}
		}
	}()
	for i, n := range sizes {
		got, err := b.Recv(ctx)
		if err != nil || !bytes.Equal(got, message(n, byte(i))) {
			t.Fatalf("message %d (%d bytes): %d bytes, %v", i, n, len(got), err)
		}
	}
	// The other direction, RecvInto with a short buffer leaves the message.
	if err := b.Send(ctx, message(100, 7)); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Poll(ctx); !ok || err != nil {
		t.Fatalf("Poll with a message waiting: %v %v", ok, err)
	}
	small := make([]byte, 10)
	if n, err := a.RecvInto(ctx, small); n != 100 || !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("RecvInto short: %d %v", n, err)
	}
	big := make([]byte, 200)
	if n, err := a.RecvInto(ctx, big); n != 100 || err != nil || !bytes.Equal(big[:n], message(100, 7)) {
		t.Fatalf("RecvInto: %d %v", n, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if ok, err := a.Poll(short); ok || err != nil {
		t.Fatalf("Poll that times out: %v %v", ok, err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if ok, err := a.Poll(cctx); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll cancelled: %v %v", ok, err)
	}
}

// TestSendBuffers: a message sent in pieces arrives as the concatenation,
// whatever the pieces' sizes against the fragments (empty pieces, pieces
// spanning fragment boundaries, none at all), and the pieces are left as
// they were.
func TestSendBuffers(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := PipeWith(false, &PipeOptions{Slots: 4, SlotSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	cases := [][]int{{}, {0}, {0, 0}, {10}, {59}, {60}, {59, 1}, {1, 58, 0, 2}, {300, 0, 7, 64, 63}, {5, 1000}}
	go func() {
		for i, sizes := range cases {
			bufs := make([][]byte, len(sizes))
			for k, n := range sizes {
				bufs[k] = message(n, byte(i*16+k))
			}
			kept := make([][]byte, len(bufs))
			copy(kept, bufs)
			if err := b.SendBuffers(ctx, bufs); err != nil {
				t.Error(err)
				return
			}
			for k := range bufs {
				if len(bufs[k]) != len(kept[k]) || (len(bufs[k]) > 0 && &bufs[k][0] != &kept[k][0]) {
					t.Errorf("case %d: SendBuffers changed piece %d", i, k)
				}
			}
		}
	}()
	for i, sizes := range cases {
		var want []byte
		for k, n := range sizes {
			want = append(want, message(n, byte(i*16+k))...)
		}
		got, err := a.Recv(ctx)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d %v: got %d bytes, want %d: %v", i, sizes, len(got), len(want), err)
		}
	}
}

func TestPipeCloseSemantics(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := Pipe(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, []byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal("Close is not idempotent:", err)
	}
	// What was sent before Close arrives; then EOF.
	if got, err := b.Recv(ctx); string(got) != "last words" || err != nil {
		t.Fatalf("drain after close: %q %v", got, err)
	}
	if _, err := b.Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the peer closed: %v", err)
	}
	if ok, err := b.Poll(ctx); !ok || err != nil {
		t.Fatalf("Poll at EOF: %v %v", ok, err)
	}
	if err := b.Send(ctx, []byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Send to a closed peer: %v", err)
	}
	b.Close()

	// A receiver sleeping when the peer closes wakes with EOF.
	a, b, err = Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Send(ctx, nil); err == nil {
		t.Fatal("Send on the receive-only end of a simplex pipe")
	}
	if _, err := b.Recv(ctx); err == nil {
		t.Fatal("Recv on the send-only end of a simplex pipe")
	}
	res := make(chan error)
	go func() { _, err := a.Recv(ctx); res <- err }()
	time.Sleep(10 * time.Millisecond)
	b.Close()
	if err := <-res; !errors.Is(err, io.EOF) {
		t.Fatalf("sleeping receiver at peer close: %v", err)
	}
}

func TestPipeAcrossProcesses(t *testing.T) {
	ctx := ctxT(t)
	a, b, err := Pipe(true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	f, err := b.seg.Dup()
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := json.Marshal(b.Ref())
	c := proctest.Start(t, "pipe-echo", []string{string(ref)}, &proctest.Options{Files: []*os.File{f}})
	f.Close()
	b.Detach() // the child has its own end now
	for i, n := range []int{3, 70_000, 0, 1 << 20} {
		want := message(n, byte(i))
		if err := a.Send(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := a.Recv(ctx)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("echo %d of %d bytes: %d bytes, %v", i, n, len(got), err)
		}
	}
	a.Close()
	c.MustSucceed(t, time.Minute)
}

func TestPipeGarbage(t *testing.T) {
	seg, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	copy(seg.Bytes(), "not a pipe at all")
	if _, err := OpenConn(ConnRef{Seg: seg.Ref()}); !errors.Is(err, ErrPipe) {
		t.Fatalf("OpenConn on garbage: %v", err)
	}
	_ = strconv.Itoa
}
