package manager_test

// Benchmarks of the shared-memory backend, each with its baselines
// measured in the same run and reported next to it (DESIGN.md principle
// 8): a Go map under a sync.Mutex in one process (the floor: no sharing),
// and Python's multiprocessing Manager().dict() (what the backend
// replaces; skipped with a log line when python3 is missing). Read several
// counts with benchstat:
//
//	go test -run '^$' -bench BenchmarkShm -count 6 ./manager/ | tee shm.txt
//	benchstat shm.txt
//
// Units: "x-gomap" is our cost over the Go map's (lower is better);
// "x-faster-than-py" is Python's cost over ours (higher is better).

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/baseline"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
)

func init() {
	roles["shm-bench-update"] = shmBenchUpdateRole
}

const shmBenchKeys = 1000

// shmBenchDict opens a Dict[int64, int64] holding keys 0..999 in a fresh
// manager destroyed after the benchmark.
func shmBenchDict(b *testing.B) (string, *manager.Manager, *manager.Dict[int64, int64]) {
	b.Helper()
	url, m := shmManager(b, nil)
	ctx := context.Background()
	d, err := manager.OpenDict[int64, int64](ctx, m, "bench")
	shmMust(b, err)
	for i := range int64(shmBenchKeys) {
		shmMust(b, d.Set(ctx, i, i))
	}
	return url, m, d
}

// goMapBaseline times n iterations of op on a map[int64]int64 of 1000
// keys under a sync.Mutex and returns ns per iteration.
func goMapBaseline(n int, op func(m map[int64]int64, i int64)) float64 {
	var mu sync.Mutex
	m := make(map[int64]int64, shmBenchKeys)
	for i := range int64(shmBenchKeys) {
		m[i] = i
	}
	t0 := time.Now()
	for i := range int64(n) {
		mu.Lock()
		op(m, i%shmBenchKeys)
		mu.Unlock()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

var goMapSink int64

func reportGoMap(b *testing.B, ns float64, op func(m map[int64]int64, i int64)) {
	g := goMapBaseline(max(b.N, 1e6), op)
	b.ReportMetric(g, "gomap-ns/op")
	b.ReportMetric(ns/g, "x-gomap")
}

// reportPy reports Python's figure key (microseconds per op) and how many
// times faster we are.
func reportPy(b *testing.B, ns float64, key string) {
	r, err := pyManagerDict()
	if err != nil {
		b.Logf("no Python baseline: %v", err)
		return
	}
	us := r[key]
	b.ReportMetric(us, "py-us/op")
	b.ReportMetric(us*1e3/ns, "x-faster-than-py")
}

func nsPerOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// BenchmarkShmDictGet is Dict[int64, int64].Get of keys cycling through
// 1000, one process: lock-free, a copy of the 8-byte value.
func BenchmarkShmDictGet(b *testing.B) {
	_, _, d := shmBenchDict(b)
	ctx := context.Background()
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		if _, ok, err := d.Get(ctx, i%shmBenchKeys); !ok || err != nil {
			b.Fatal(ok, err)
		}
		i++
	}
	ns := nsPerOp(b)
	reportGoMap(b, ns, func(m map[int64]int64, i int64) { goMapSink += m[i] })
	reportPy(b, ns, "get_us")
}

// BenchmarkShmDictSet is Dict[int64, int64].Set of keys cycling through
// 1000, one process: under the object's robust lock, the value replaced
// in place by one atomic store.
func BenchmarkShmDictSet(b *testing.B) {
	_, _, d := shmBenchDict(b)
	ctx := context.Background()
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		if err := d.Set(ctx, i%shmBenchKeys, i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	ns := nsPerOp(b)
	reportGoMap(b, ns, func(m map[int64]int64, i int64) { m[i] = i })
	reportPy(b, ns, "set_us")
}

// BenchmarkShmDictUpdate is Dict[int64, int64].Update (an atomic
// increment) of keys cycling through 1000, one process. Python's baseline
// is d[k] = d[k] + 1 on a Manager dict: two round trips, not even atomic.
func BenchmarkShmDictUpdate(b *testing.B) {
	_, _, d := shmBenchDict(b)
	ctx := context.Background()
	b.ReportAllocs()
	incr := func(old int64, _ bool) (int64, bool) { return old + 1, true }
	var i int64
	for b.Loop() {
		if err := d.Update(ctx, i%shmBenchKeys, incr); err != nil {
			b.Fatal(err)
		}
		i++
	}
	ns := nsPerOp(b)
	reportGoMap(b, ns, func(m map[int64]int64, i int64) { m[i]++ })
	reportPy(b, ns, "update_us")
}

// shmBenchUpdateRole: url, key. Increments key of the Dict "bench" with
// Update until the Event "stop" is set; sets "running" first.
func shmBenchUpdateRole() int {
	a := proctest.Args()
	ctx := context.Background()
	m, err := manager.Open(ctx, a[0], nil)
	if err != nil {
		return childFail(err)
	}
	defer m.Close()
	d, err := manager.OpenDict[int64, int64](ctx, m, "bench")
	if err != nil {
		return childFail(err)
	}
	running, err := manager.OpenEvent(ctx, m, "running")
	if err != nil {
		return childFail(err)
	}
	stop, err := manager.OpenEvent(ctx, m, "stop")
	if err != nil {
		return childFail(err)
	}
	key, _ := strconv.ParseInt(a[1], 10, 64)
	incr := func(old int64, _ bool) (int64, bool) { return old + 1, true }
	if err := running.Set(ctx); err != nil {
		return childFail(err)
	}
	for {
		for range 64 {
			if err := d.Update(ctx, key, incr); err != nil {
				return childFail(err)
			}
		}
		if set, err := stop.IsSet(ctx); set || err != nil {
			return 0
		}
	}
}

// BenchmarkShmDictUpdate2Proc has two processes increment keys of one
// Dict[int64, int64] with Update, contending for its lock: a child without
// pause, the benchmark b.N times. ops/s counts both processes' Updates per
// second of the benchmark's loop; peer-% is the child's share. Cases: both
// on one key; on two keys stored side by side (one cache line: keys 0 and
// 1, inserted one after the other); on two keys far apart. Python's
// baseline is two processes setting their own key of one Manager dict
// (Python's Manager has no atomic update).
func BenchmarkShmDictUpdate2Proc(b *testing.B) {
	for _, c := range []struct {
		name       string
		mine, peer int64
	}{{"same-key", 0, 0}, {"adjacent-keys", 0, 1}, {"distant-keys", 0, 500}} {
		b.Run(c.name, func(b *testing.B) { benchUpdate2Proc(b, c.mine, c.peer) })
	}
}

func benchUpdate2Proc(b *testing.B, mine, peer int64) {
	url, m, d := shmBenchDict(b)
	ctx := context.Background()
	running, err := manager.OpenEvent(ctx, m, "running")
	shmMust(b, err)
	stop, err := manager.OpenEvent(ctx, m, "stop")
	shmMust(b, err)
	c := proctest.Start(b, "shm-bench-update", []string{url, strconv.FormatInt(peer, 10)}, nil)
	wctx, cancel := context.WithTimeout(ctx, shmChildTimeout)
	defer cancel()
	shmMust(b, running.Wait(wctx))
	incr := func(old int64, _ bool) (int64, bool) { return old + 1, true }
	b.ReportAllocs()
	p0, _, _ := d.Get(ctx, peer)
	m0, _, _ := d.Get(ctx, mine)
	t0 := time.Now()
	for b.Loop() {
		if err := d.Update(ctx, mine, incr); err != nil {
			b.Fatal(err)
		}
	}
	wall := time.Since(t0)
	p1, _, _ := d.Get(ctx, peer)
	m1, _, _ := d.Get(ctx, mine)
	shmMust(b, stop.Set(ctx))
	c.MustSucceed(b, shmChildTimeout)
	peerOps := p1 - p0
	if mine == peer {
		peerOps = m1 - m0 - int64(b.N)
	} else if m1-m0 != int64(b.N) {
		b.Fatalf("%d increments counted of %d", m1-m0, b.N)
	}
	total := float64(b.N) + float64(peerOps)
	rate := total / wall.Seconds()
	b.ReportMetric(rate, "ops/s")
	b.ReportMetric(100*float64(peerOps)/total, "peer-%")
	if r, err := pyManagerDict(); err != nil {
		b.Logf("no Python baseline: %v", err)
	} else {
		b.ReportMetric(r["set2_ops_per_s"], "py-ops/s")
		b.ReportMetric(rate/r["set2_ops_per_s"], "x-faster-than-py")
	}
}

// pyManagerDictScript times Python's Manager().dict(): Get, Set and
// d[k] = d[k] + 1 of keys cycling through 1000, n times each, then two
// processes setting their own key n times each, started together. It
// prints microseconds per op and the two processes' total sets per second.
const pyManagerDictScript = `
import multiprocessing as mp, sys, time

def work(d, n, k, start):
    start.wait()
    for i in range(n):
        d[k] = i

ctx = mp.get_context("fork")
n = int(sys.argv[1])
m = ctx.Manager()
d = m.dict()
for i in range(1000):
    d[i] = i

def timed(f):
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) / n * 1e6

def get():
    for i in range(n):
        d[i % 1000]

def set_():
    for i in range(n):
        d[i % 1000] = i

def update():
    for i in range(n):
        k = i % 1000
        d[k] = d[k] + 1

get_us, set_us, update_us = timed(get), timed(set_), timed(update)
start = ctx.Barrier(3)
ps = [ctx.Process(target=work, args=(d, n, "k%d" % j, start)) for j in range(2)]
for p in ps:
    p.start()
start.wait()
t0 = time.perf_counter()
for p in ps:
    p.join()
dt = time.perf_counter() - t0
print("get_us=%f set_us=%f update_us=%f set2_ops_per_s=%f" % (get_us, set_us, update_us, 2 * n / dt))
m.shutdown()
`

// pyManagerDict runs the Python baseline once per test binary.
var pyManagerDict = sync.OnceValues(func() (baseline.Result, error) {
	return baseline.Python(pyManagerDictScript, "5000")
})
