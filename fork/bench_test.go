package fork_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/internal/baseline"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

// exitAtOnceEnv makes the test binary exit as soon as it starts: the
// os/exec baseline runs the same binary doing nothing.
const exitAtOnceEnv = "SHMKIT_BENCH_EXIT_AT_ONCE"

func init() {
	if os.Getenv(exitAtOnceEnv) != "" {
		os.Exit(0)
	}
}

var signalRunning = fork.Register("signal-running", func(ctx context.Context, r shm.Ref) (int, error) {
	seg, err := shm.OpenRef(r, nil)
	if err != nil {
		return 0, err
	}
	defer seg.Close()
	ev, err := ctypes.View[locks.Event](seg.Bytes())
	if err != nil {
		return 0, err
	}
	ev.Set()
	return 0, nil
})

// pyStart times Python's Process start+join for a method, in ms.
const pyStart = `
import multiprocessing as mp, sys, time
def f(): pass
if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    for _ in range(2):
        p = ctx.Process(target=f); p.start(); p.join()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0 and n < 200:
        p = ctx.Process(target=f); p.start(); p.join(); n += 1
    print("ms_per_op=%f" % ((time.perf_counter() - t0) * 1000 / n))
`

func pyStartMs(b *testing.B, method string) float64 {
	r, err := baseline.Python(pyStart, method)
	if errors.Is(err, baseline.ErrUnavailable) {
		return 0
	}
	if err != nil {
		b.Logf("python baseline: %v", err)
		return 0
	}
	return r["ms_per_op"]
}

// BenchmarkStartJoin starts a trivial task and joins it, per method, next
// to an os/exec of the same binary exiting at once, /bin/true, and Python's
// Process start+join with the same method.
func BenchmarkStartJoin(b *testing.B) {
	ctx := context.Background()
	defer fork.Shutdown(ctx)
	execSelf := measure(func() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), exitAtOnceEnv+"=1")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	})
	execTrue := measure(func() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	})
	for _, m := range fork.StartMethods() {
		b.Run(m.String(), func(b *testing.B) {
			opts := &fork.Options{Method: m}
			if m == fork.ForkServer {
				if err := fork.WarmUp(ctx, 2); err != nil {
					b.Fatal(err)
				}
				defer fork.Shutdown(ctx)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fork.Run(ctx, square, 3, opts); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(per/execSelf, "x-exec-self")
			b.ReportMetric(execSelf*1e3, "exec-self-ms")
			b.ReportMetric(execTrue*1e3, "exec-true-ms")
			py := map[fork.Method]string{fork.Spawn: "spawn", fork.Fork: "fork", fork.ForkServer: "forkserver"}[m]
			if ms := pyStartMs(b, py); ms > 0 {
				b.ReportMetric(ms, "py-ms")
				b.ReportMetric(ms/(per*1e3), "x-faster-than-py")
			}
		})
	}
}

// BenchmarkStartToRunning measures how long after Start the task is
// running (it sets an Event the parent waits for), for Spawn and for
// ForkServer with idle workers ready. Joining is outside the timer.
func BenchmarkStartToRunning(b *testing.B) {
	ctx := context.Background()
	seg, err := shm.Anonymous(4096)
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	ev, err := ctypes.View[locks.Event](seg.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	var spawnPer float64
	for _, m := range []fork.Method{fork.Spawn, fork.ForkServer} {
		b.Run(m.String(), func(b *testing.B) {
			opts := &fork.Options{Method: fork.Fork} // the child needs the anonymous segment
			if m == fork.ForkServer {
				fork.SetIdleWorkers(2)
				defer fork.Shutdown(ctx)
				opts.Method = fork.ForkServer
			}
			ref := seg.Ref()
			if m == fork.ForkServer {
				// ForkServer children get no inherited segments; use a named one.
				named, err := shm.Create("shmkit-bench-run-"+time.Now().Format("150405.000000"), 4096, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer named.Close()
				defer named.Unlink()
				ev, _ = ctypes.View[locks.Event](named.Bytes())
				ref = named.Ref()
			}
			var running time.Duration
			for b.Loop() {
				b.StopTimer()
				ev.Clear()
				if m == fork.ForkServer {
					if err := fork.WarmUp(ctx, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				t0 := time.Now()
				p, err := fork.Start(ctx, signalRunning, ref, opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := ev.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				running += time.Since(t0)
				b.StopTimer()
				if err := p.Join(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			per := running.Seconds() / float64(b.N)
			b.ReportMetric(per*1e6, "us-to-running")
			if m == fork.Spawn {
				spawnPer = per
			} else if spawnPer > 0 {
				b.ReportMetric(per/spawnPer, "x-spawn")
				if ms := pyStartMs(b, "fork"); ms > 0 {
					b.ReportMetric(ms/(per*1e3), "x-faster-than-py-fork-start+join")
				}
			}
		})
	}
}

// measure returns the mean seconds per call of f over about 200 ms.
func measure(f func()) float64 {
	f()
	n, t0 := 0, time.Now()
	for time.Since(t0) < 200*time.Millisecond {
		f()
		n++
	}
	return time.Since(t0).Seconds() / float64(n)
}

// pyPoolMap times Python's Pool(2).map of a trivial function over 100,000
// ints, with the default chunk size and with 1000, in tasks per second.
const pyPoolMap = `
import multiprocessing as mp, time
def f(x): return x * x
if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as p:
        xs = list(range(100000))
        p.map(f, xs)
        for cs, name in ((None, "default"), (1000, "chunk1000")):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 1.0:
                p.map(f, xs, chunksize=cs); n += 1
            print("%s=%f" % (name, n * len(xs) / (time.perf_counter() - t0)))
`

// BenchmarkPoolMap maps a trivial task over 100,000 ints on 2 workers, with
// the default chunk size and with 1000, next to a pool of 2 goroutines in
// one process and Python's Pool(2).map, all in tasks per second.
func BenchmarkPoolMap(b *testing.B) {
	ctx := context.Background()
	p, err := fork.NewPool(2, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		p.Close()
		_ = p.Join(ctx)
	}()
	in := make([]int, 100_000)
	for i := range in {
		in[i] = i
	}
	py, pyErr := baseline.Python(pyPoolMap)
	for _, c := range []struct {
		name  string
		chunk int
	}{{"default", 0}, {"chunk1000", 1000}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fork.MapChunked(ctx, p, square, in, c.chunk); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(len(in)) * float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate/1e6, "M-tasks/s")
			g := goroutinePoolRate(in, 2, max(c.chunk, len(in)/8))
			b.ReportMetric(g/1e6, "goroutines-M-tasks/s")
			if pyErr == nil && py[c.name] > 0 {
				b.ReportMetric(py[c.name]/1e6, "py-M-tasks/s")
				b.ReportMetric(rate/py[c.name], "x-faster-than-py")
			}
		})
	}
}

// goroutinePoolRate maps x*x over in with workers goroutines taking chunks
// from a channel, for about 200 ms, and returns tasks per second.
func goroutinePoolRate(in []int, workers, chunk int) float64 {
	out := make([]int, len(in))
	n, t0 := 0, time.Now()
	for time.Since(t0) < 200*time.Millisecond {
		jobs := make(chan int, len(in)/chunk+1)
		for i := 0; i < len(in); i += chunk {
			jobs <- i
		}
		close(jobs)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range jobs {
					for i := s; i < min(s+chunk, len(in)); i++ {
						out[i] = in[i] * in[i]
					}
				}
			}()
		}
		wg.Wait()
		n += len(in)
	}
	return float64(n) / time.Since(t0).Seconds()
}
