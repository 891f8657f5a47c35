package locks

// Benchmarks across real processes (DESIGN.md principle 8). Each one
// measures its baselines in the same run, after its own loop, and reports
// them with b.ReportMetric next to the ratio; read several counts with
// benchstat:
//
//	go test -run='^$' -bench=. -count=6 ./locks/ | tee new.txt
//	benchstat new.txt
//
// Units: "x-sync.Mutex" is how many times sync.Mutex's cost ours is (lower
// is better); "x-faster-than-B" is B's cost over ours (higher is better).
// C baselines (glibc, compiled with gcc on first use) and Python ones are
// left out, with a log line, when gcc or python3 is missing.
//
// Placement: the two-process benchmarks, and their C and Python baselines
// alike, run each process on a CPU of its own (proctest.Placement), as
// taskset(1) would.

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/baseline"
	"github.com/shmkit/shmkit/internal/proctest"
	"golang.org/x/sys/unix"
)

// baselineBudget is how long each baseline's measured loop runs.
const baselineBudget = 300 * time.Millisecond

// BenchmarkMutexUncontended is Lock, an increment, Unlock of a Mutex in a
// segment, by one goroutine. Baselines, same loop: sync.Mutex, and glibc's
// process-shared pthread mutex in MAP_SHARED memory, robust (what Mutex is)
// and plain.
func BenchmarkMutexUncontended(b *testing.B) {
	_, s := newShared(b)
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		s.counter++
		s.mu.Unlock()
	}
	ns := nsPerOp(b)
	if s.counter != int64(b.N) {
		b.Fatalf("counter %d after %d increments", s.counter, b.N)
	}

	var base struct {
		mu sync.Mutex
		n  int64
	}
	t0 := time.Now()
	for range b.N {
		base.mu.Lock()
		base.n++
		base.mu.Unlock()
	}
	syncNs := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(syncNs, "sync.Mutex-ns/op")
	b.ReportMetric(ns/syncNs, "x-sync.Mutex")

	if r := cBaseline(b, "mutex-uncontended", "1"); r != nil {
		b.ReportMetric(r["ns_per_op"], "c-robust-ns/op")
		b.ReportMetric(r["ns_per_op"]/ns, "x-faster-than-c-robust")
	}
	if r := cBaseline(b, "mutex-uncontended", "0"); r != nil {
		b.ReportMetric(r["ns_per_op"], "c-pshared-ns/op")
		b.ReportMetric(r["ns_per_op"]/ns, "x-faster-than-c-pshared")
	}
}

// BenchmarkMutexContended2Proc has two processes increment one counter
// under one Mutex: a child (role "contend") without pause, the benchmark
// b.N times. M-incr/s counts both processes' increments per second of the
// benchmark's loop; peer-% is the child's share. Baselines, same scheme:
// glibc's process-shared pthread mutex (plain and robust) with a forked
// child, and two goroutines on one sync.Mutex in one process (the
// in-process ceiling, not a like-for-like comparison).
func BenchmarkMutexContended2Proc(b *testing.B) {
	name, s := newShared(b)
	pl := proctest.NewPlacement(b)
	c := proctest.Start(b, "contend", pl.PeerArgs(name), nil)
	proctest.WaitFor(b, "child running", func() bool { return atomic.LoadUint32(&s.arrived) == 1 })

	unpin := pl.Pin(b, 0)
	b.ReportAllocs()
	c0, t0 := lockedCounter(s), time.Now()
	for b.Loop() {
		s.mu.Lock()
		s.counter++
		s.mu.Unlock()
	}
	c1, wall := lockedCounter(s), time.Since(t0)
	unpin()
	stopChild(b, s, c, nil)
	total := float64(c1 - c0)
	rate := total / wall.Seconds()
	b.ReportMetric(rate/1e6, "M-incr/s")
	b.ReportMetric(100*(total-float64(b.N))/total, "peer-%")

	syncRate := syncMutex2Goroutines()
	b.ReportMetric(syncRate/1e6, "sync.Mutex-M-incr/s")
	b.ReportMetric(syncRate/rate, "x-sync.Mutex")
	if r := cBaseline(b, "mutex-contended", "0"); r != nil {
		b.ReportMetric(r["incr_per_s"]/1e6, "c-pshared-M-incr/s")
		b.ReportMetric(rate/r["incr_per_s"], "x-faster-than-c-pshared")
	}
	if r := cBaseline(b, "mutex-contended", "1"); r != nil {
		b.ReportMetric(r["incr_per_s"]/1e6, "c-robust-M-incr/s")
		b.ReportMetric(rate/r["incr_per_s"], "x-faster-than-c-robust")
	}
}

// lockedCounter reads the fixture's counter under its lock.
func lockedCounter(s *shared) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counter
}

// syncMutex2Goroutines is BenchmarkMutexContended2Proc's scheme in one
// process: two goroutines increment under a sync.Mutex for baselineBudget,
// placed by the Go scheduler (the process is not pinned). It returns the
// increments of both per second.
func syncMutex2Goroutines() float64 {
	var base struct {
		mu sync.Mutex
		n  int64
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			base.mu.Lock()
			base.n++
			base.mu.Unlock()
		}
	})
	read := func() int64 {
		base.mu.Lock()
		defer base.mu.Unlock()
		return base.n
	}
	n0, t0 := read(), time.Now()
	for time.Since(t0) < baselineBudget {
		for range 1024 {
			base.mu.Lock()
			base.n++
			base.mu.Unlock()
		}
	}
	n1, wall := read(), time.Since(t0)
	stop.Store(true)
	wg.Wait()
	return float64(n1-n0) / wall.Seconds()
}

// BenchmarkEventPingPong is a round trip between two processes through two
// Events: the benchmark sets pingA and waits for pingB; the child (role
// "pingpong-event") waits for pingA, clears it and sets pingB. ns/op is the
// mean round trip; p50-ns and p99-ns come from per-round-trip samples.
// Baselines: a one-byte ping-pong through two pipes with a child process
// (both sides blocking in read(2)), and Python's multiprocessing.Event
// ping-pong (measured once per test binary). The x-faster-than ratios
// compare medians.
func BenchmarkEventPingPong(b *testing.B) {
	name, s := newShared(b)
	pl := proctest.NewPlacement(b)
	c := proctest.Start(b, "pingpong-event", pl.PeerArgs(name), nil)
	ctx := context.Background()
	rtt := func() {
		s.pingA.Set()
		if err := s.pingB.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		s.pingB.Clear()
	}
	p50 := pingPong(b, pl, rtt)
	stopChild(b, s, c, s.pingA.Set)
	reportPingPongBaselines(b, pl, p50, "event")
}

// BenchmarkSemaphorePingPong is BenchmarkEventPingPong with two Semaphores:
// the benchmark releases semA and acquires semB; the child (role
// "pingpong-sem") acquires semA and releases semB. Baselines: the pipe
// ping-pong, glibc's process-shared sem_t ping-pong with a forked child,
// and Python's multiprocessing.Semaphore ping-pong (once per test binary).
func BenchmarkSemaphorePingPong(b *testing.B) {
	name, s := newShared(b)
	pl := proctest.NewPlacement(b)
	c := proctest.Start(b, "pingpong-sem", pl.PeerArgs(name), nil)
	ctx := context.Background()
	rtt := func() {
		s.semA.Release()
		if err := s.semB.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
	}
	p50 := pingPong(b, pl, rtt)
	stopChild(b, s, c, s.semA.Release)
	if r := cBaseline(b, "sem-pingpong"); r != nil {
		b.ReportMetric(r["p50_ns"], "c-sem-p50-ns")
		b.ReportMetric(r["p50_ns"]/p50, "x-faster-than-c-sem")
	}
	reportPingPongBaselines(b, pl, p50, "semaphore")
}

// pingPong runs rtt in the benchmark loop, after a warm-up, and reports the
// median and 99th percentile of the round trips. It returns the median.
func pingPong(b *testing.B, pl proctest.Placement, rtt func()) (p50 float64) {
	defer pl.Pin(b, 0)()
	for range 100 {
		rtt()
	}
	samples := newRTTSamples()
	b.ReportAllocs()
	t := time.Now()
	for b.Loop() {
		rtt()
		now := time.Now()
		samples.add(now.Sub(t))
		t = now
	}
	p50, p99 := samples.percentiles()
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
	return p50
}

// reportPingPongBaselines measures the pipe ping-pong and Python's
// multiprocessing ping-pong of kind ("event" or "semaphore") and reports
// them next to p50, ours.
func reportPingPongBaselines(b *testing.B, pl proctest.Placement, p50 float64, kind string) {
	pipe50, pipe99 := pipePingPong(b, pl)
	b.ReportMetric(pipe50, "pipe-p50-ns")
	b.ReportMetric(pipe99, "pipe-p99-ns")
	b.ReportMetric(pipe50/p50, "x-faster-than-pipe")

	r, err := baseline.Python(baseline.PySource, kind, "500", "pin")
	if errors.Is(err, baseline.ErrUnavailable) {
		b.Logf("no Python baseline: %v", err)
		return
	}
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r["p50_ns"], "py-p50-ns")
	b.ReportMetric(r["p50_ns"]/p50, "x-faster-than-py")
}

// pipePingPong measures one-byte round trips through two pipes with a
// child (role "pipe-echo") for baselineBudget, both sides blocking in
// read(2) as a futex waiter blocks in futex(2). It returns the median and
// 99th percentile in nanoseconds.
func pipePingPong(b *testing.B, pl proctest.Placement) (p50, p99 float64) {
	toChild, toChildW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer toChild.Close()
	defer toChildW.Close() // on failure; closed below otherwise
	fromChild, fromChildW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer fromChild.Close()
	defer fromChildW.Close()
	c := proctest.Start(b, "pipe-echo", pl.PeerArgs(), &proctest.Options{Files: []*os.File{toChild, fromChildW}})
	// The child has its copies; closing ours lets it see EOF when we close
	// toChildW, and us see EOF should it die.
	for _, f := range []*os.File{toChild, fromChildW} {
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	// Fd puts the descriptors in blocking mode: read(2) sleeps in the
	// kernel instead of going through the runtime's poller.
	wfd, rfd := int(toChildW.Fd()), int(fromChild.Fd())
	var buf [1]byte
	rtt := func() {
		for {
			if _, err := unix.Write(wfd, buf[:]); err != unix.EINTR {
				if err != nil {
					b.Fatal(err)
				}
				break
			}
		}
		for {
			n, err := unix.Read(rfd, buf[:])
			if err == unix.EINTR {
				continue
			}
			if err != nil || n != 1 {
				b.Fatalf("pipe read: %d, %v", n, err)
			}
			break
		}
	}
	unpin := pl.Pin(b, 0)
	for range 100 {
		rtt()
	}
	samples := newRTTSamples()
	t0 := time.Now()
	for t := t0; t.Sub(t0) < baselineBudget; {
		rtt()
		now := time.Now()
		samples.add(now.Sub(t))
		t = now
	}
	unpin()
	if err := toChildW.Close(); err != nil { // the child reads EOF and exits
		b.Fatal(err)
	}
	c.MustSucceed(b, childTimeout)
	return samples.percentiles()
}

// stopChild sets the fixture's stop flag, calls wake (if not nil) so a
// waiting child sees it, and reaps the child.
func stopChild(b *testing.B, s *shared, c *proctest.Child, wake func()) {
	atomic.StoreUint32(&s.stop, 1)
	if wake != nil {
		wake()
	}
	c.MustSucceed(b, childTimeout)
}

// nsPerOp is the benchmark loop's mean time per iteration.
func nsPerOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// rttSamples keeps the latest 2^20 round-trip times of a loop (all of a
// one-second loop of microsecond round trips) in a preallocated ring, so
// that recording one costs a store.
type rttSamples struct {
	ns []int64
	n  int
}

func newRTTSamples() *rttSamples { return &rttSamples{ns: make([]int64, 1<<20)} }

func (s *rttSamples) add(d time.Duration) {
	s.ns[s.n&(len(s.ns)-1)] = int64(d)
	s.n++
}

// percentiles returns the median and the 99th percentile of the kept
// samples, in nanoseconds. It reorders them.
func (s *rttSamples) percentiles() (p50, p99 float64) {
	kept := s.ns[:min(s.n, len(s.ns))]
	if len(kept) == 0 {
		return 0, 0
	}
	slices.Sort(kept)
	return float64(kept[len(kept)/2]), float64(kept[len(kept)*99/100])
}

// cBaseline runs baseline.CSource with args, budget baselineBudget and the
// processes pinned as the Go benchmarks pin theirs. It runs the program
// afresh on every call (baseline.C would return its first result), so
// that each -count measures its own baseline and benchstat sees the
// baseline's spread too. It returns nil, after logging why, when gcc is
// missing.
func cBaseline(b *testing.B, args ...string) baseline.Result {
	args = append(args, strconv.FormatInt(baselineBudget.Milliseconds(), 10), "pin")
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	r, err := baseline.RunC(ctx, baseline.CSource, args...)
	if errors.Is(err, baseline.ErrUnavailable) {
		b.Logf("no C baseline: %v", err)
		return nil
	}
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkRMutexUncontended locks and unlocks an RMutex twice over (one
// re-entry), next to sync.Mutex in the same run. Python's mp.RLock takes
// about 106 ns per acquire+release on the reference machine.
func BenchmarkRMutexUncontended(b *testing.B) {
	var r RMutex
	var base sync.Mutex
	var guarded int
	b.ReportAllocs()
	for b.Loop() {
		r.Lock()
		r.Lock()
		guarded++
		r.Unlock()
		r.Unlock()
	}
	per := b.Elapsed().Seconds() / float64(b.N) * 1e9
	t0, n := time.Now(), 0
	for time.Since(t0) < 100*time.Millisecond {
		for range 1000 {
			base.Lock()
			guarded++
			base.Unlock()
		}
		n += 1000
	}
	syncNs := time.Since(t0).Seconds() / float64(n) * 1e9
	b.ReportMetric(per/syncNs, "x-sync.Mutex")
	if guarded < b.N {
		b.Fatal("lost increments")
	}
}
