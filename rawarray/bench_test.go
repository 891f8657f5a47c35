package rawarray_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/baseline"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
)

// Control states of the RawValue[int32] that runs a benchmark child.
const (
	benchWaiting = iota // the parent has started the child
	benchRunning        // the child is incrementing
	benchStop           // the parent is done: stop
)

// benchIncrRole: ref of the Value[int64] counter, ref of the RawValue[int32]
// control word. Increments the counter under its lock, as the parent does,
// until told to stop.
func benchIncrRole() int {
	args := proctest.Args()
	vref, err := parseRef(args[0])
	if err != nil {
		return exit(err)
	}
	cref, err := parseRef(args[1])
	if err != nil {
		return exit(err)
	}
	v, err := rawarray.OpenValue[int64](vref)
	if err != nil {
		return exit(err)
	}
	ctl, err := rawarray.OpenRawValue[int32](cref)
	if err != nil {
		return exit(err)
	}
	ctl.Store(benchRunning)
	for ctl.Load() != benchStop {
		v.Lock()
		v.Store(v.Load() + 1)
		v.Unlock()
	}
	return exit(errors.Join(v.Close(), ctl.Close()))
}

// pyValueIncrScript is the baseline: Python's multiprocessing.Value('q')
// incremented under get_lock() by 2 processes, n times each, started
// together; it prints the total increments per second.
const pyValueIncrScript = `
import multiprocessing as mp, sys, time

def work(v, n, start):
    start.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1

ctx = mp.get_context("fork")
n = int(sys.argv[1])
v = ctx.Value("q", 0)
start = ctx.Barrier(3)
ps = [ctx.Process(target=work, args=(v, n, start)) for _ in range(2)]
for p in ps:
    p.start()
start.wait()
t0 = time.perf_counter()
for p in ps:
    p.join()
dt = time.perf_counter() - t0
if v.value != 2 * n:
    sys.exit("lost increments: %d of %d" % (v.value, 2 * n))
print("incr_per_s=%f" % (2 * n / dt))
`

// cValueIncrSource is the hardware's measure: the same increments in C, a
// long in shared memory guarded by a process-shared robust pthread mutex
// (the semantics of the Value's lock), by 2 processes for a second.
const cValueIncrSource = `
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared { pthread_mutex_t mu; long value; volatile int stop, ready; };

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void incr(struct shared *s) {
	pthread_mutex_lock(&s->mu);
	s->value++;
	pthread_mutex_unlock(&s->mu);
}

int main(void) {
	struct shared *s = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->mu, &a);
	pid_t pid = fork();
	if (pid == 0) {
		s->ready = 1;
		while (!s->stop)
			incr(s);
		_exit(0);
	}
	while (!s->ready)
		;
	long v0 = s->value;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 1000; i++)
			incr(s);
	} while ((t = now()) - t0 < 1.0);
	long v1 = s->value;
	s->stop = 1;
	waitpid(pid, 0, 0);
	printf("incr_per_s=%f\n", (v1 - v0) / (t - t0));
	return 0;
}
`

// BenchmarkValueIncrement2Proc: the parent and one child process both
// increment one Value under its lock (Lock, Load, Store, Unlock) as fast
// as they can. M-incr/s is the increments of both per second of the
// parent's timed loop, and child-share the child's part of them; ns/op is
// per parent increment. Python's mp.Value incremented under get_lock() by
// two processes is measured in the same run (py-M-incr/s) and compared
// (x-py), and so is C with a robust process-shared pthread mutex
// (c-M-incr/s, x-c), the ceiling the hardware sets.
func BenchmarkValueIncrement2Proc(b *testing.B) {
	seg := newBenchSegment(b)
	v, err := rawarray.PlaceValue[int64](seg, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctl, err := rawarray.PlaceRawValue[int32](seg, rawarray.ValueSize, benchWaiting)
	if err != nil {
		b.Fatal(err)
	}
	c := proctest.Start(b, "bench-incr", []string{refOf(b, v), refOf(b, ctl)}, nil)
	for ctl.Load() != benchRunning {
		select {
		case <-c.Done():
			b.Fatalf("child exited early: %s", c.Output())
		case <-time.After(time.Millisecond):
		}
	}
	b.ReportAllocs()
	start := v.Load()
	for b.Loop() {
		v.Lock()
		v.Store(v.Load() + 1)
		v.Unlock()
	}
	end := v.Load()
	elapsed := b.Elapsed()
	ctl.Store(benchStop)
	c.MustSucceed(b, childTimeout)

	total := end - start
	rate := float64(total) / elapsed.Seconds() / 1e6
	b.ReportMetric(rate, "M-incr/s")
	b.ReportMetric(float64(total-int64(b.N))/float64(total), "child-share")
	if r, err := pyValueIncr(); err != nil {
		b.Logf("no Python baseline: %v", err)
	} else {
		b.ReportMetric(r, "py-M-incr/s")
		b.ReportMetric(rate/r, "x-py")
	}
	if r, err := cValueIncr(); err != nil {
		b.Logf("no C baseline: %v", err)
	} else {
		b.ReportMetric(r, "c-M-incr/s")
		b.ReportMetric(rate/r, "x-c")
	}
}

// pyValueIncr runs the Python baseline once per test binary.
var pyValueIncr = sync.OnceValues(func() (float64, error) {
	r, err := baseline.Python(pyValueIncrScript, "200000")
	if err != nil {
		return 0, err
	}
	rate, ok := r["incr_per_s"]
	if !ok {
		return 0, errors.New("python baseline printed no incr_per_s")
	}
	return rate / 1e6, nil
})

// cValueIncr runs the C baseline once per test binary.
var cValueIncr = sync.OnceValues(func() (float64, error) {
	r, err := baseline.C(cValueIncrSource)
	if err != nil {
		return 0, err
	}
	rate, ok := r["incr_per_s"]
	if !ok {
		return 0, errors.New("C baseline printed no incr_per_s")
	}
	return rate / 1e6, nil
})

// newBenchSegment is a named segment for a benchmark's objects, removed
// when the benchmark ends.
func newBenchSegment(b *testing.B) *shm.Segment {
	b.Helper()
	seg, err := shm.Create(proctest.Name(b), 4096, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = seg.Unlink()
		_ = seg.Close()
	})
	return seg
}

// BenchmarkValue is single-process access to a Value in an anonymous
// segment, next to the Go equivalents on the heap: atomic.Int64 for Load
// and Store, sync.Mutex around a plain int64 for the locked increment.
func BenchmarkValue(b *testing.B) {
	v, err := rawarray.NewValue[int64](0)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	var ai atomic.Int64
	var mu sync.Mutex
	var plain int64
	var sink int64
	for _, bm := range []struct {
		name string
		op   func()
	}{
		{"Load", func() { sink += v.Load() }},
		{"Load/atomic.Int64", func() { sink += ai.Load() }},
		{"Store", func() { v.Store(sink) }},
		{"Store/atomic.Int64", func() { ai.Store(sink) }},
		{"Increment", func() { v.Lock(); v.Store(v.Load() + 1); v.Unlock() }},
		{"Increment/sync.Mutex", func() { mu.Lock(); plain++; mu.Unlock() }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bm.op()
			}
		})
	}
	_ = sink
}

// BenchmarkArrayElems reads and rewrites every element of a 4096-element
// int64 array per op — At then Set — for a RawArray (plain accesses), an
// Array (atomic accesses) and their Slice, next to a Go slice on the heap.
// ns/elem is the cost of one At and one Set.
func BenchmarkArrayElems(b *testing.B) {
	const n = 4096
	ra, err := rawarray.NewRawArray[int64](n)
	if err != nil {
		b.Fatal(err)
	}
	defer ra.Close()
	a, err := rawarray.NewArray[int64](n)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	goSlice := make([]int64, n)

	perElem := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
	}
	b.Run("RawArray.SetAt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range n {
				ra.Set(i, ra.At(i)+1)
			}
		}
		perElem(b)
	})
	b.Run("RawArray.Slice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := ra.Slice()
			for i := range s {
				s[i]++
			}
		}
		perElem(b)
	})
	b.Run("Array.SetAt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range n {
				a.Set(i, a.At(i)+1)
			}
		}
		perElem(b)
	})
	b.Run("GoSlice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range goSlice {
				goSlice[i] = goSlice[i] + 1
			}
		}
		perElem(b)
	})
}
