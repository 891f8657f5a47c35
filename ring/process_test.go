package ring

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/internal/race"
)

// Cross-process tests. The parent creates a segment holding a ring at
// offset 0 and, for the MPMC stress test, a history bitmap after it;
// children re-executed from the test binary attach by name.

const childTimeout = proctest.Timeout

// attach opens the ring of kind ("spsc" or "mpmc") at the start of a
// segment in a child.
func attach(name, kind string) anyRing {
	mem := openSegment(name)
	if kind == "spsc" {
		r, err := AttachSPSC(mem)
		if err != nil {
			proctest.Fail("attach: %v", err)
		}
		return r
	}
	r, err := AttachMPMC(mem)
	if err != nil {
		proctest.Fail("attach: %v", err)
	}
	return r
}

// histOffset is where the history bitmap starts in a stress segment.
func histOffset(ringSize int) int { return (ringSize + 4095) &^ 4095 }

func histAt(mem []byte, ringSize, producers, perProd int) *history {
	off := histOffset(ringSize)
	words, err := ctypes.Slice[uint32](mem[off:], (producers*perProd+31)/32)
	if err != nil {
		proctest.Fail("history: %v", err)
	}
	return &history{bits: words, perProd: perProd}
}

var roles = map[string]proctest.Role{
	// name kind n batch: send n messages as producer 0, then Close.
	"produce": func() int {
		a := proctest.Args()
		r := attach(a[0], a[1])
		if err := produce(context.Background(), r, 0, proctest.ArgInt(2), proctest.ArgInt(3)); err != nil {
			proctest.Fail("%v", err)
		}
		_ = r.Close()
		return 0
	},
	// name kind n: receive until ErrClosed; every message intact, in
	// order, from producer 0; exactly n of them.
	"consume-ordered": func() int {
		a := proctest.Args()
		r := attach(a[0], a[1])
		n := proctest.ArgInt(2)
		bufs := make([][]byte, 16)
		for i := range bufs {
			bufs[i] = make([]byte, r.SlotSize())
		}
		next := uint64(0)
		for {
			k, err := r.RecvBatch(context.Background(), bufs)
			if err == ErrClosed {
				break
			}
			if err != nil {
				proctest.Fail("recv after %d: %v", next, err)
			}
			for _, m := range bufs[:k] {
				p, s, err := checkMsg(m)
				if err != nil || p != 0 || s != next {
					proctest.Fail("message %d: producer %d seq %d: %v", next, p, s, err)
				}
				next++
			}
		}
		if next != uint64(n) {
			proctest.Fail("received %d messages, want %d", next, n)
		}
		return 0
	},
	// name producer n batch: send n messages as producer p into the MPMC
	// ring.
	"mpmc-produce": func() int {
		a := proctest.Args()
		r := attach(a[0], "mpmc")
		if err := produce(context.Background(), r, uint64(proctest.ArgInt(1)), proctest.ArgInt(2), proctest.ArgInt(3)); err != nil {
			proctest.Fail("%v", err)
		}
		return 0
	},
	// name producers perProd batch: receive until ErrClosed, checking each
	// message and per-producer order, and mark it in the shared history.
	"mpmc-consume": func() int {
		a := proctest.Args()
		mem := openSegment(a[0])
		r, err := AttachMPMC(mem)
		if err != nil {
			proctest.Fail("attach: %v", err)
		}
		h := histAt(mem, MPMCSize(r.Cap(), r.SlotSize()), proctest.ArgInt(1), proctest.ArgInt(2))
		if _, err := consume(context.Background(), r, h, proctest.ArgInt(3), nil); err != nil {
			proctest.Fail("%v", err)
		}
		return 0
	},
	// name kind producer: send forever, until killed.
	"produce-forever": func() int {
		a := proctest.Args()
		r := attach(a[0], a[1])
		if err := produce(context.Background(), r, uint64(proctest.ArgInt(2)), 1<<62, 1); err != nil {
			proctest.Fail("%v", err)
		}
		return 0
	},
	// name tagged: claim an MPMC slot, record the owner tag (if tagged),
	// then wait to be killed without publishing.
	"mpmc-claim-hang": func() int {
		a := proctest.Args()
		r := attach(a[0], "mpmc").(*MPMC)
		pos, _, err := r.claimSend(1)
		if err != nil {
			proctest.Fail("claim: %v", err)
		}
		if proctest.ArgInt(1) == 1 {
			atomic.StoreUint64(&r.words[r.index(pos)+1], uint64(r.tag(pos, 0))<<32|5)
		}
		copy(r.payload(pos), "torn?")
		os.Stdout.WriteString("claimed\n")
		for {
			time.Sleep(time.Hour)
		}
	},
	// name: claim the next MPMC message for reading, record the tag, then
	// wait to be killed without releasing the slot.
	"mpmc-take-hang": func() int {
		a := proctest.Args()
		r := attach(a[0], "mpmc").(*MPMC)
		pos, _, _, err := r.claimRecv([][]byte{make([]byte, r.SlotSize())}, false)
		if err != nil {
			proctest.Fail("claim: %v", err)
		}
		atomic.StoreUint64(&r.words[r.index(pos)+1], uint64(r.tag(pos, tagConsumer))<<32)
		os.Stdout.WriteString("claimed\n")
		for {
			time.Sleep(time.Hour)
		}
	},
	// name: receive one SPSC message, then wait to be killed.
	"spsc-recv-hang": func() int {
		r := attach(proctest.Args()[0], "spsc")
		if _, err := r.Recv(context.Background(), make([]byte, r.SlotSize())); err != nil {
			proctest.Fail("recv: %v", err)
		}
		for {
			time.Sleep(time.Hour)
		}
	},
	// name kind n: receive exactly n messages, then require ErrClosed.
	"recv-closed": func() int {
		a := proctest.Args()
		r := attach(a[0], a[1])
		buf := make([]byte, r.SlotSize())
		for i := range proctest.ArgInt(2) {
			if _, err := r.Recv(context.Background(), buf); err != nil {
				proctest.Fail("message %d: %v", i, err)
			}
		}
		if _, err := r.Recv(context.Background(), buf); err != ErrClosed {
			proctest.Fail("after the messages: %v, want ErrClosed", err)
		}
		return 0
	},
	// name kind: send until ErrClosed (the ring fills, then Send sleeps).
	"send-closed": func() int {
		a := proctest.Args()
		r := attach(a[0], a[1])
		for {
			err := r.Send(context.Background(), []byte("x"))
			if err == ErrClosed {
				return 0
			}
			if err != nil {
				proctest.Fail("send: %v", err)
			}
		}
	},
	// name kind ms: Close after ms milliseconds.
	"close": func() int {
		a := proctest.Args()
		r := attach(a[0], a[1])
		time.Sleep(time.Duration(proctest.ArgInt(2)) * time.Millisecond)
		_ = r.Close()
		return 0
	},
	// Publishes a plain Go variable through a ring in a mapped segment
	// with the race annotations off: -race must report it.
	"race-unannotated": func() int {
		raceAnnotate = false
		segmentRace(nil)
		return 0
	},
}

// newRingSegment creates a segment with an SPSC or MPMC ring at offset 0
// and extra bytes after the ring.
func newRingSegment(t testing.TB, kind string, slots, slotSize, extra int) (string, []byte, anyRing) {
	t.Helper()
	size := SPSCSize(slots, slotSize)
	if kind == "mpmc" {
		size = MPMCSize(slots, slotSize)
	}
	name, mem := newSegment(t, histOffset(size)+extra)
	var r anyRing
	var err error
	if kind == "spsc" {
		r, err = NewSPSC(mem, slots, slotSize)
	} else {
		r, err = NewMPMC(mem, slots, slotSize)
	}
	if err != nil {
		t.Fatal(err)
	}
	return name, mem, r
}

// scaled returns n, divided under -short and under -race.
func scaled(n, short, raced int) int {
	if testing.Short() {
		n = short
	}
	if race.Enabled {
		n = min(n, raced)
	}
	return n
}

// TestSPSCAcrossProcesses: 10,000,000 messages (1,000,000 under -short)
// from one process to another arrive in order and intact; the producer
// alternates single sends and batches, the consumer receives in batches.
func TestSPSCAcrossProcesses(t *testing.T) {
	n := scaled(10_000_000, 1_000_000, 300_000)
	name, _, _ := newRingSegment(t, "spsc", 1024, 64, 0)
	cons := proctest.Start(t, "consume-ordered", []string{name, "spsc", strconv.Itoa(n)}, nil)
	prod := proctest.Start(t, "produce", []string{name, "spsc", strconv.Itoa(n), "8"}, nil)
	prod.MustSucceed(t, childTimeout)
	cons.MustSucceed(t, childTimeout)
}

// TestMPMCAcrossProcesses: 2 producer processes × 2 consumer processes,
// 1,000,000 messages in all (100,000 under -short): every message arrives
// exactly once, intact, in order per producer.
func TestMPMCAcrossProcesses(t *testing.T) {
	const producers, consumers = 2, 2
	perProd := scaled(500_000, 50_000, 50_000)
	name, mem, r := newRingSegment(t, "mpmc", 256, 64, (producers*perProd+31)/32*4)
	h := histAt(mem, MPMCSize(256, 64), producers, perProd)
	var cs, ps []*proctest.Child
	for c := range consumers {
		cs = append(cs, proctest.Start(t, "mpmc-consume",
			[]string{name, strconv.Itoa(producers), strconv.Itoa(perProd), strconv.Itoa(1 + 7*c)}, nil))
	}
	for p := range producers {
		ps = append(ps, proctest.Start(t, "mpmc-produce",
			[]string{name, strconv.Itoa(p), strconv.Itoa(perProd), strconv.Itoa(1 + 5*p)}, nil))
	}
	for _, c := range ps {
		c.MustSucceed(t, childTimeout)
	}
	_ = r.Close()
	for _, c := range cs {
		c.MustSucceed(t, childTimeout)
	}
	for p := range producers {
		if n, prefix := h.count(p); n != perProd || !prefix {
			t.Fatalf("producer %d: %d messages arrived (prefix %v), want %d", p, n, prefix, perProd)
		}
	}
}

// seed returns the seed of a random schedule: SHMKIT_RING_SEED if set,
// else a fresh one. It is logged so a failure can be replayed.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("SHMKIT_RING_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (replay with SHMKIT_RING_SEED=%d)", s, s)
	return s
}

// TestSPSCProducerKilled kills the producer at a random moment while it
// streams. The consumer sees an unbroken, intact prefix of the stream, then
// ErrProducerDied: no torn message, no hang.
func TestSPSCProducerKilled(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 0))
	name, _, ring := newRingSegment(t, "spsc", 64, 64, 0)
	r := ring.(*SPSC)
	c := proctest.Start(t, "produce-forever", []string{name, "spsc", "0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	buf := make([]byte, r.SlotSize())
	killAt := 1000 + rng.IntN(200_000)
	var next uint64
	for {
		n, err := r.Recv(ctx, buf)
		if err == ErrProducerDied {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", next, err)
		}
		p, s, err := checkMsg(buf[:n])
		if err != nil || p != 0 || s != next {
			t.Fatalf("message %d: producer %d seq %d: %v", next, p, s, err)
		}
		next++
		if next == uint64(killAt) {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			c.Kill()
		}
	}
	if next < uint64(killAt) {
		t.Fatalf("only %d messages before ErrProducerDied", next)
	}
	t.Logf("received %d messages; the producer was killed after %d", next, killAt)
}

// TestMPMCProducerKilled kills one of two producer processes at a random
// moment; two consumers (goroutines of the test) keep going. Every message
// the killed producer published arrives, intact, in order, with no gap; at
// most the one it was writing is lost (reported as ErrProducerDied); the
// other producer's messages all arrive.
func TestMPMCProducerKilled(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 0))
	const perProd = 1 << 20
	name, _, ring := newRingSegment(t, "mpmc", 16, 2048, 0)
	r := ring.(*MPMC)
	victim := proctest.Start(t, "produce-forever", []string{name, "mpmc", "0"}, nil)
	n := scaled(200_000, 50_000, 20_000)
	other := proctest.Start(t, "mpmc-produce", []string{name, "1", strconv.Itoa(n), "4"}, nil)
	h := newHistory(2, perProd)
	var died atomic.Int32
	var received atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := consumeCounting(ctx, r, h, 3, func(err error) bool {
				if err == ErrProducerDied {
					died.Add(1)
					return true
				}
				return false
			}, &received)
			if err != nil {
				t.Error(err)
				_ = r.Close()
			}
		}()
	}
	killAt := 1000 + rng.IntN(n/2)
	for (received.Load() < int64(killAt) || !h.has(0, 0)) && !t.Failed() {
		time.Sleep(100 * time.Microsecond)
	}
	victim.Kill()
	other.MustSucceed(t, childTimeout)
	_ = r.Close()
	wg.Wait()
	if t.Failed() {
		return
	}
	sent, prefix := h.count(0)
	if !prefix || sent == 0 {
		t.Fatalf("killed producer: %d messages arrived, prefix %v", sent, prefix)
	}
	if got, _ := h.count(1); got != n {
		t.Fatalf("surviving producer: %d messages, want %d", got, n)
	}
	if died.Load() > 1 {
		t.Fatalf("%d ErrProducerDied, want at most 1", died.Load())
	}
	t.Logf("killed producer delivered %d messages (%d lost in flight); survivor %d", sent, died.Load(), n)
}

// TestMPMCDeadClaimant: a producer dies holding a claimed slot, with its
// owner tag recorded (found after about a quarter second) or not (found
// after the unknown-owner bound). Consumers skip the slot with
// ErrProducerDied instead of hanging, and the ring goes on.
func TestMPMCDeadClaimant(t *testing.T) {
	for _, tagged := range []string{"1", "0"} {
		t.Run("tagged="+tagged, func(t *testing.T) {
			if tagged == "0" && testing.Short() {
				t.Skip("waits the 2 s unknown-owner bound")
			}
			name, _, ring := newRingSegment(t, "mpmc", 4, 32, 0)
			r := ring.(*MPMC)
			_ = r.TrySend([]byte("before"))
			c := proctest.Start(t, "mpmc-claim-hang", []string{name, tagged}, nil)
			proctest.WaitFor(t, "claim", func() bool { return strings.Contains(c.Output(), "claimed") })
			c.Kill()
			if err := r.TrySend([]byte("after")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
			defer cancel()
			buf := make([]byte, 32)
			for _, want := range []string{"before", "", "after"} {
				n, err := r.Recv(ctx, buf)
				if want == "" {
					if err != ErrProducerDied {
						t.Fatalf("dead claim: %q %v, want ErrProducerDied", buf[:n], err)
					}
					continue
				}
				if err != nil || string(buf[:n]) != want {
					t.Fatalf("got %q %v, want %q", buf[:n], err, want)
				}
			}
			if r.Len() != 0 {
				t.Fatalf("Len %d", r.Len())
			}
		})
	}
}

// TestMPMCDeadConsumer: a consumer dies holding a message it claimed. A
// producer that finds the ring full at that slot releases it (the message
// is lost) instead of hanging.
func TestMPMCDeadConsumer(t *testing.T) {
	name, _, ring := newRingSegment(t, "mpmc", 2, 16, 0)
	r := ring.(*MPMC)
	_ = r.TrySend([]byte("lost"))
	c := proctest.Start(t, "mpmc-take-hang", []string{name}, nil)
	proctest.WaitFor(t, "claim", func() bool { return strings.Contains(c.Output(), "claimed") })
	c.Kill()
	_ = r.TrySend([]byte("one"))
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	if err := r.Send(ctx, []byte("two")); err != nil { // full until recovered
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	for _, want := range []string{"one", "two"} {
		n, err := r.Recv(ctx, buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("got %q %v, want %q", buf[:n], err, want)
		}
	}
}

// TestSPSCPeerDied: a sender blocked on a full ring whose consumer died
// gets ErrConsumerDied; a receiver on an empty ring whose producer died
// gets ErrProducerDied.
func TestSPSCPeerDied(t *testing.T) {
	name, _, ring := newRingSegment(t, "spsc", 2, 16, 0)
	r := ring.(*SPSC)
	_ = r.TrySend([]byte("a"))
	c := proctest.Start(t, "spsc-recv-hang", []string{name}, nil)
	proctest.WaitFor(t, "receive", func() bool { return r.Len() == 0 })
	c.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	var err error
	for err == nil {
		err = r.Send(ctx, []byte("b"))
	}
	if err != ErrConsumerDied {
		t.Fatalf("Send to a dead consumer: %v", err)
	}

	name, _, ring = newRingSegment(t, "spsc", 2, 64, 0)
	r = ring.(*SPSC)
	c = proctest.Start(t, "produce-forever", []string{name, "spsc", "0"}, nil)
	proctest.WaitFor(t, "send", func() bool { return r.Len() == 2 })
	c.Kill()
	buf := make([]byte, 64)
	for err = nil; err == nil; {
		_, err = r.Recv(ctx, buf)
	}
	if err != ErrProducerDied {
		t.Fatalf("Recv from a dead producer: %v", err)
	}
}

// TestCloseAcrossProcesses closes rings at every phase: a receiver asleep
// in another process, a sender asleep on a full ring in another process,
// messages left to drain, and a Close from another process while this
// one sleeps.
func TestCloseAcrossProcesses(t *testing.T) {
	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run(kind+"/receiver-asleep", func(t *testing.T) {
			name, mem, r := newRingSegment(t, kind, 4, 16, 0)
			c := proctest.Start(t, "recv-closed", []string{name, kind, "0"}, nil)
			waitSleeping(t, notEmptyWord(t, mem))
			_ = r.Close()
			c.MustSucceed(t, childTimeout)
		})
		t.Run(kind+"/sender-asleep", func(t *testing.T) {
			name, mem, r := newRingSegment(t, kind, 4, 16, 0)
			c := proctest.Start(t, "send-closed", []string{name, kind}, nil)
			waitSleeping(t, notFullWord(t, mem))
			_ = r.Close()
			c.MustSucceed(t, childTimeout)
		})
		t.Run(kind+"/drain", func(t *testing.T) {
			name, _, r := newRingSegment(t, kind, 4, 16, 0)
			for i := range 3 {
				if err := r.Send(context.Background(), []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			_ = r.Close()
			proctest.Start(t, "recv-closed", []string{name, kind, "3"}, nil).MustSucceed(t, childTimeout)
		})
		t.Run(kind+"/closed-by-peer", func(t *testing.T) {
			name, _, r := newRingSegment(t, kind, 4, 16, 0)
			c := proctest.Start(t, "close", []string{name, kind, "50"}, nil)
			if _, err := r.Recv(context.Background(), make([]byte, 16)); err != ErrClosed {
				t.Fatalf("Recv: %v, want ErrClosed", err)
			}
			c.MustSucceed(t, childTimeout)
			if err := r.Send(context.Background(), nil); err != ErrClosed {
				t.Fatalf("Send: %v, want ErrClosed", err)
			}
		})
	}
}

func notEmptyWord(t testing.TB, mem []byte) *uint32 {
	c, err := ctypes.View[control](mem)
	if err != nil {
		t.Fatal(err)
	}
	return &c.notEmpty
}

func notFullWord(t testing.TB, mem []byte) *uint32 {
	c, err := ctypes.View[control](mem)
	if err != nil {
		t.Fatal(err)
	}
	return &c.notFull
}

// segmentRace publishes a plain Go variable through rings in a mapped
// segment, which the race detector does not track: only the annotations
// tell it that Send happens before the matching Recv. With t nil it runs
// in a child and reports failures by exit status.
func segmentRace(t *testing.T) {
	var seg []byte
	if t != nil {
		_, seg = newSegment(t, SPSCSize(4, 8)+MPMCSize(4, 8))
	} else {
		seg = anonSegment(SPSCSize(4, 8) + MPMCSize(4, 8))
	}
	s, err := NewSPSC(seg, 4, 8)
	if err != nil {
		panic(err)
	}
	m, err := NewMPMC(seg[SPSCSize(4, 8):], 4, 8)
	if err != nil {
		panic(err)
	}
	for _, r := range []anyRing{s, m} {
		var plain [64]int
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 8)
			for i := range 1000 {
				if _, err := r.Recv(context.Background(), buf); err != nil {
					panic(err)
				}
				if plain[i%64] != i {
					panic("plain variable not published")
				}
			}
		}()
		for i := range 1000 {
			plain[i%64] = i
			if err := r.Send(context.Background(), []byte{1}); err != nil {
				panic(err)
			}
			for r.(interface{ Len() int }).Len() > 2 {
				// Keep the producer close: the slot of plain[i%64] is
				// written only after the consumer read it.
				time.Sleep(time.Microsecond)
			}
		}
		<-done
	}
}

// TestSegmentRace runs segmentRace: under -race it passes only because of
// the annotations (TestRaceAnnotationsNeeded shows the report without them).
func TestSegmentRace(t *testing.T) { segmentRace(t) }

// TestRaceAnnotationsNeeded runs segmentRace in a child with the
// annotations off, and expects the race detector to report.
func TestRaceAnnotationsNeeded(t *testing.T) {
	if !race.Enabled {
		t.Skip("needs -race")
	}
	c := proctest.Start(t, "race-unannotated", nil, nil)
	err := c.Wait(t, childTimeout)
	if err == nil || !strings.Contains(c.Output(), "DATA RACE") {
		t.Fatalf("no race reported without annotations (exit %v):\n%s", err, c.Output())
	}
}
