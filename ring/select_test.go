package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/locks"
)

// selectModes runs f with futex_waitv (where the kernel has it) and with
// the polling fallback.
func selectModes(t *testing.T, f func(t *testing.T)) {
	t.Run("waitv", func(t *testing.T) {
		if !sys.HaveWaitv() {
			t.Skip("futex_waitv needs Linux 5.16")
		}
		f(t)
	})
	t.Run("poll", func(t *testing.T) {
		forcePoll.Store(true)
		defer forcePoll.Store(false)
		f(t)
	})
}

// selectWorld is a set of sources of every kind, on heap memory (which
// the race detector sees): two SPSC rings, an MPMC ring, a Queue, a
// duplex Pipe and an Event.
type selectWorld struct {
	s0, s1 *SPSC
	m      *MPMC
	q      *Queue[int64]
	a, b   *Conn // b sends to a
	ev     *locks.Event
}

func newSelectWorld(t *testing.T) *selectWorld {
	w := &selectWorld{
		s0: newTestSPSC(t, 2, 16),
		s1: newTestSPSC(t, 4, 16),
		m:  newTestMPMC(t, 2, 16),
		ev: new(locks.Event),
	}
	var err error
	if w.q, err = NewQueue[int64](4); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.q.Detach() })
	if w.a, w.b, err = PipeWith(true, &PipeOptions{Slots: 2, SlotSize: 64}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.a.Close(); _ = w.b.Close() })
	return w
}

func (w *selectWorld) cases() []Case {
	return []Case{RecvReady(w.s0), RecvReady(w.s1), RecvReady(w.m), RecvReady(w.q), RecvReady(w.a), EventSet(w.ev)}
}

// send makes source k ready.
func (w *selectWorld) send(ctx context.Context, k int, v int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	switch k {
	case 0:
		return w.s0.Send(ctx, b[:])
	case 1:
		return w.s1.Send(ctx, b[:])
	case 2:
		return w.m.Send(ctx, b[:])
	case 3:
		return w.q.Put(ctx, v)
	case 4:
		return w.b.Send(ctx, b[:])
	}
	w.ev.Set()
	return nil
}

// take consumes what made source k ready and returns it (an Event gives
// -1 and is cleared).
func (w *selectWorld) take(ctx context.Context, k int) (int64, error) {
	buf := make([]byte, 16)
	var n int
	var err error
	switch k {
	case 0:
		n, err = w.s0.TryRecv(buf)
	case 1:
		n, err = w.s1.TryRecv(buf)
	case 2:
		n, err = w.m.TryRecv(buf)
	case 3:
		return w.q.TryGet()
	case 4:
		n, err = w.a.RecvInto(ctx, buf)
	default:
		if !w.ev.IsSet() {
			return 0, errors.New("event not set")
		}
		w.ev.Clear()
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if n != 8 {
		return 0, errors.New("short message")
	}
	return int64(binary.LittleEndian.Uint64(buf)), nil
}

// TestSelectReadyIndex: a goroutine makes one source at a time ready, in
// random order and after a random pause (so that Select is sometimes
// spinning, sometimes asleep); Select returns that source's index, and
// the source holds what was sent. Then several at once: the lowest index
// wins.
func TestSelectReadyIndex(t *testing.T) {
	selectModes(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed(t), 1))
		w := newSelectWorld(t)
		ctx := ctxT(t)
		cases := w.cases()
		rounds := scaled(300, 100, 100)
		order := make([]int, rounds)
		pause := make([]time.Duration, rounds)
		for i := range order {
			order[i] = rng.IntN(len(cases))
			pause[i] = []time.Duration{0, 20 * time.Microsecond, 200 * time.Microsecond, 2 * time.Millisecond}[rng.IntN(4)]
		}
		ack := make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			for i, k := range order {
				time.Sleep(pause[i])
				if err := w.send(ctx, k, int64(i)); err != nil {
					errc <- err
					return
				}
				<-ack
			}
			errc <- nil
		}()
		for i, k := range order {
			got, err := Select(ctx, cases...)
			if err != nil || got != k {
				t.Fatalf("round %d: Select = %d, %v; want %d", i, got, err, k)
			}
			v, err := w.take(ctx, k)
			if err != nil || (k != 5 && v != int64(i)) {
				t.Fatalf("round %d: source %d gave %d, %v", i, k, v, err)
			}
			ack <- struct{}{}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}

		// Several ready: the lowest index, until each is consumed.
		for _, k := range []int{4, 1, 5, 2} {
			if err := w.send(ctx, k, int64(k)); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []int{1, 2, 4, 5} {
			got, err := Select(ctx, cases...)
			if err != nil || got != want {
				t.Fatalf("Select = %d, %v; want %d", got, err, want)
			}
			if _, err := w.take(ctx, got); err != nil {
				t.Fatal(err)
			}
		}
		// Switched-off cases are never chosen.
		_ = w.s0.TrySend([]byte("x"))
		off := append([]Case{{}}, cases[1:]...)
		short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		defer cancel()
		if got, err := Select(short, off...); got != -1 || err != context.DeadlineExceeded {
			t.Fatalf("zero case: Select = %d, %v", got, err)
		}
	})
}

// TestSelectSend: SendReady waits for room, on the SPSC and MPMC rings, a
// queue and a Conn.
func TestSelectSend(t *testing.T) {
	selectModes(t, func(t *testing.T) {
		ctx := ctxT(t)
		s := newTestSPSC(t, 1, 8)
		m := newTestMPMC(t, 2, 8)
		q, err := NewQueue[int32](1) // rounded up to 2
		if err != nil {
			t.Fatal(err)
		}
		defer q.Detach()
		if q.Cap() != 2 {
			t.Fatalf("Cap %d", q.Cap())
		}
		_ = q.TryPut(0)
		a, b, err := PipeWith(false, &PipeOptions{Slots: 1, SlotSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		defer b.Close()
		_ = s.TrySend(nil)
		_ = m.TrySend(nil)
		_ = m.TrySend(nil)
		_ = q.TryPut(1)
		if err := b.Send(ctx, []byte("fill")); err != nil {
			t.Fatal(err)
		}
		cases := []Case{SendReady(s), SendReady(m), SendReady(q), SendReady(b)}
		free := []func() error{
			func() error { _, err := s.TryRecv(nil); return err },
			func() error { _, err := m.TryRecv(nil); return err },
			func() error { _, err := q.TryGet(); return err },
			func() error { _, err := a.Recv(ctx); return err },
		}
		for _, k := range []int{2, 0, 3, 1} {
			go func() {
				time.Sleep(time.Millisecond)
				if err := free[k](); err != nil {
					t.Error(err)
				}
			}()
			got, err := Select(ctx, cases...)
			if err != nil || got != k {
				t.Fatalf("Select = %d, %v; want %d", got, err, k)
			}
			cases[k] = Case{} // it has room now; look at the others
		}
	})
}

// TestSelectClosed: a closed ring is ready to both sides (receivers once
// drained), and Close wakes a sleeping Select.
func TestSelectClosed(t *testing.T) {
	selectModes(t, func(t *testing.T) {
		ctx := ctxT(t)
		s := newTestSPSC(t, 2, 8)
		m := newTestMPMC(t, 2, 8)
		ev := new(locks.Event)
		_ = m.TrySend([]byte("left"))
		_ = m.Close()
		if got, err := Select(ctx, RecvReady(s), RecvReady(m)); got != 1 || err != nil {
			t.Fatalf("closed with a message: %d %v", got, err)
		}
		buf := make([]byte, 8)
		if n, err := m.TryRecv(buf); err != nil || string(buf[:n]) != "left" {
			t.Fatalf("drain: %q %v", buf[:n], err)
		}
		if got, err := Select(ctx, RecvReady(s), RecvReady(m)); got != 1 || err != nil {
			t.Fatalf("closed and drained: %d %v", got, err)
		}
		if _, err := m.TryRecv(buf); err != ErrClosed {
			t.Fatalf("TryRecv: %v", err)
		}
		if got, err := Select(ctx, SendReady(m)); got != 0 || err != nil {
			t.Fatalf("SendReady on closed: %d %v", got, err)
		}
		go func() {
			// The first case's word is announced in both modes.
			for w, bit := ev.WaitWord(); atomic.LoadUint32(w)&bit == 0; {
				time.Sleep(time.Millisecond)
			}
			_ = s.Close()
		}()
		if got, err := Select(ctx, EventSet(ev), RecvReady(s)); got != 1 || err != nil {
			t.Fatalf("closed while asleep: %d %v", got, err)
		}
		// A Conn whose peer closed is ready, with io.EOF.
		a, b, err := Pipe(false)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		go func() {
			for loadWord(&a.recv.c.notEmpty)&sleepersBit == 0 {
				time.Sleep(time.Millisecond)
			}
			_ = b.Close()
		}()
		if got, err := Select(ctx, RecvReady(a)); got != 0 || err != nil {
			t.Fatalf("Conn closed by its peer: %d %v", got, err)
		}
		if _, err := a.Recv(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("Recv: %v", err)
		}
	})
}

// TestSelectContext: cancellation and deadlines end a sleeping Select with
// ctx.Err(); a ready case wins over an ended context; no cases waits for
// the context.
func TestSelectContext(t *testing.T) {
	selectModes(t, func(t *testing.T) {
		s := newTestSPSC(t, 2, 8)
		m := newTestMPMC(t, 2, 8)
		ev := new(locks.Event)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			got, err := Select(ctx, RecvReady(s), RecvReady(m), EventSet(ev))
			if got != -1 {
				err = errors.New("index " + strconv.Itoa(got))
			}
			done <- err
		}()
		waitSleeping(t, &s.c.notEmpty)
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("cancelled: %v", err)
		}
		short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel2()
		if got, err := Select(short, RecvReady(s), EventSet(ev)); got != -1 || err != context.DeadlineExceeded {
			t.Fatalf("deadline: %d %v", got, err)
		}
		if got, err := Select(short); got != -1 || err != context.DeadlineExceeded {
			t.Fatalf("no cases: %d %v", got, err)
		}
		ev.Set()
		if got, err := Select(ctx, RecvReady(s), EventSet(ev)); got != 1 || err != nil {
			t.Fatalf("ready with an ended context: %d %v", got, err)
		}
	})
}

// TestSelectProducerDied: a Select on an SPSC ring whose last sender is
// gone reports ErrProducerDied with the case's index, as Recv would.
func TestSelectProducerDied(t *testing.T) {
	s := newTestSPSC(t, 2, 8)
	other := newTestSPSC(t, 2, 8)
	atomic.StoreUint32(&s.c.sendPid, maxPid-1) // a pid no process has
	got, err := Select(ctxT(t), RecvReady(other), RecvReady(s))
	if got != 1 || err != ErrProducerDied {
		t.Fatalf("Select = %d, %v; want 1, ErrProducerDied", got, err)
	}
}

// TestSelectPanics: misuse panics with the package prefix.
func TestSelectPanics(t *testing.T) {
	a, b, err := Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	mustPanic(t, "ring: RecvReady on a send-only Conn", func() { RecvReady(b) })
	mustPanic(t, "ring: SendReady on a receive-only Conn", func() { SendReady(a) })
	mustPanic(t, "ring: EventSet of a nil Event", func() { EventSet(nil) })
}

// A segment for the cross-process Select test: two SPSC rings, an MPMC
// ring, an Event, the round in which the child set it, and an SPSC ring
// of acknowledgements from the parent.
type selectSeg struct {
	s0, s1, ack *SPSC
	m           *MPMC
	ev          *locks.Event
	evRound     *uint64
}

func selectSegLayout() (offs [4]int, evOff, size int) {
	sz := []int{SPSCSize(4, 16), SPSCSize(4, 16), MPMCSize(4, 16), SPSCSize(4, 16)}
	for i, n := range sz {
		offs[i] = size
		size += (n + 127) &^ 127
	}
	return offs, size, size + 128
}

func mapSelectSeg(mem []byte, create bool) (*selectSeg, error) {
	offs, evOff, _ := selectSegLayout()
	var g selectSeg
	var err error
	spsc := func(i int) (*SPSC, error) {
		if create {
			return NewSPSC(mem[offs[i]:], 4, 16)
		}
		return AttachSPSC(mem[offs[i]:])
	}
	if g.s0, err = spsc(0); err != nil {
		return nil, err
	}
	if g.s1, err = spsc(1); err != nil {
		return nil, err
	}
	if g.ack, err = spsc(3); err != nil {
		return nil, err
	}
	if create {
		g.m, err = NewMPMC(mem[offs[2]:], 4, 16)
	} else {
		g.m, err = AttachMPMC(mem[offs[2]:])
	}
	if err != nil {
		return nil, err
	}
	if g.ev, err = ctypes.View[locks.Event](mem[evOff:]); err != nil {
		return nil, err
	}
	if g.evRound, err = ctypes.View[uint64](mem[evOff+64:]); err != nil {
		return nil, err
	}
	return &g, nil
}

func init() {
	// select-send: name seed rounds — make one source ready per round
	// (ring 0, 1, MPMC 2 or the event 3, at random, after a random
	// pause), waiting for the parent's acknowledgement in between; then
	// close the three rings one by one, likewise.
	roles["select-send"] = func() int {
		a := proctest.Args()
		g, err := mapSelectSeg(openSegment(a[0]), false)
		if err != nil {
			proctest.Fail("attach: %v", err)
		}
		rng := rand.New(rand.NewPCG(uint64(proctest.ArgInt(1)), 2))
		ctx := context.Background()
		buf := make([]byte, 16)
		waitAck := func(round int) {
			n, err := g.ack.Recv(ctx, buf)
			if err != nil || n != 8 || binary.LittleEndian.Uint64(buf) != uint64(round) {
				proctest.Fail("ack %d: %d bytes, %v", round, n, err)
			}
		}
		rounds := proctest.ArgInt(2)
		for i := range rounds {
			k := rng.IntN(4)
			switch rng.IntN(3) {
			case 1:
				time.Sleep(20 * time.Microsecond)
			case 2:
				time.Sleep(time.Duration(100+rng.IntN(900)) * time.Microsecond)
			}
			var msg [8]byte
			binary.LittleEndian.PutUint64(msg[:], uint64(k)<<32|uint64(i))
			switch k {
			case 0:
				err = g.s0.Send(ctx, msg[:])
			case 1:
				err = g.s1.Send(ctx, msg[:])
			case 2:
				err = g.m.Send(ctx, msg[:])
			default:
				atomic.StoreUint64(g.evRound, uint64(i))
				g.ev.Set()
			}
			if err != nil {
				proctest.Fail("send %d on %d: %v", i, k, err)
			}
			waitAck(i)
		}
		for k, r := range []interface{ Close() error }{g.s0, g.s1, g.m} {
			_ = r.Close()
			waitAck(rounds + k)
		}
		return 0
	}
}

// TestSelectAcrossProcesses: a child makes one of two SPSC rings, an MPMC
// ring or an Event ready, chosen at random, and the parent's Select
// returns that one; then the child closes the rings one by one, and each
// shows as ready with ErrClosed. With futex_waitv and with the polling
// fallback.
func TestSelectAcrossProcesses(t *testing.T) {
	selectModes(t, testSelectAcrossProcesses)
}

func testSelectAcrossProcesses(t *testing.T) {
	_, _, size := selectSegLayout()
	name, mem := newSegment(t, size)
	g, err := mapSelectSeg(mem, true)
	if err != nil {
		t.Fatal(err)
	}
	rounds := scaled(1000, 200, 200)
	if forcePoll.Load() {
		rounds /= 5 // a case other than the first waits up to pollMax
	}
	c := proctest.Start(t, "select-send", []string{name, strconv.FormatUint(seed(t), 10), strconv.Itoa(rounds)}, nil)
	ctx := ctxT(t)
	cases := []Case{RecvReady(g.s0), RecvReady(g.s1), RecvReady(g.m), EventSet(g.ev)}
	var ack [8]byte
	buf := make([]byte, 16)
	for i := range rounds + 3 {
		k, err := Select(ctx, cases...)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		switch {
		case k == 3:
			g.ev.Clear()
			if r := atomic.LoadUint64(g.evRound); r != uint64(i) {
				t.Fatalf("round %d: the event was set in round %d", i, r)
			}
		case i >= rounds:
			var err error
			if k == 2 {
				_, err = g.m.TryRecv(buf)
			} else {
				_, err = []*SPSC{g.s0, g.s1}[k].TryRecv(buf)
			}
			if err != ErrClosed || k != i-rounds {
				t.Fatalf("close %d: ring %d, %v", i-rounds, k, err)
			}
			cases[k] = Case{}
		default:
			var n int
			var err error
			if k == 2 {
				n, err = g.m.TryRecv(buf)
			} else {
				n, err = []*SPSC{g.s0, g.s1}[k].TryRecv(buf)
			}
			want := uint64(k)<<32 | uint64(i)
			if err != nil || n != 8 || binary.LittleEndian.Uint64(buf) != want {
				t.Fatalf("round %d: ring %d gave %x (%d bytes), %v; want %x", i, k, buf[:n], n, err, want)
			}
		}
		binary.LittleEndian.PutUint64(ack[:], uint64(i))
		if err := g.ack.Send(ctx, ack[:]); err != nil {
			t.Fatal(err)
		}
	}
	c.MustSucceed(t, childTimeout)
}
