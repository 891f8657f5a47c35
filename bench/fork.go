package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

var (
	// noopTask returns its argument.
	noopTask = fork.Register("shmkit/bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })
	// runningTask sets the Event at the start of the segment: the task
	// runs.
	runningTask = fork.Register("shmkit/bench.running", func(ctx context.Context, seg *shm.Segment) (int, error) {
		defer seg.Close()
		ev, err := viewPeer[locks.Event](seg)
		if err != nil {
			return 0, err
		}
		ev.Set()
		return 0, nil
	})
	// squareTask is the pool's task.
	squareTask = fork.Register("shmkit/bench.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
)

var spawnStartJoin = Case{
	Name: "fork/Spawn start+join",
	About: "fork.Run of a task returning its argument with the Spawn method (this binary re-executed), start to join, median; " +
		"vs os/exec of this binary exiting at once (the floor: the same exec and runtime start), and Python's spawn Process start+join",
	Unit:          "p50-ms",
	LowerIsBetter: true,
	run: func(ctx context.Context, o *Options, r *Result) error {
		opts := &fork.Options{Method: fork.Spawn}
		x := 0
		sm, err := timedSamples(o.loop(), 1, func() error {
			x++
			v, err := fork.Run(ctx, noopTask, x, opts)
			if err == nil && v != x {
				err = fmt.Errorf("task returned %d, want %d", v, x)
			}
			return err
		})
		if err != nil {
			return err
		}
		r.Value = sm.percentile(50) / 1e6
		v, err := execSelf(ctx, o)
		r.add("os/exec self", v, err)
		v, err = o.pyFigure(ctx, "p50_ns", 1e-6, "spawn")
		r.add("Python spawn", v, err)
		return nil
	},
}

// execSelf runs this binary, exiting at once, for the budget and returns
// the median start-to-exit time in milliseconds.
func execSelf(ctx context.Context, o *Options) (float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	env := append(os.Environ(), execRoleEnv+"="+roleExit)
	sm, err := timedSamples(budgetLoop(o.budget()), 1, func() error {
		cmd := exec.CommandContext(ctx, exe)
		cmd.Args = []string{os.Args[0]}
		cmd.Env = env
		return cmd.Run()
	})
	if err != nil {
		return 0, err
	}
	return sm.percentile(50) / 1e6, nil
}

// idleWorkers is how many idle workers the ForkServer keeps by default.
const idleWorkers = 2

var forkServerStart = Case{
	Name: "fork/ForkServer start-to-running",
	About: "time from fork.Start with the ForkServer method (its idle workers ready) until the task runs (it sets a locks.Event), median; " +
		"joining is outside the time; vs the same with Spawn, and Python's forkserver Process; " +
		"ends with fork.Shutdown, which stops the idle workers",
	Unit:          "p50-us",
	LowerIsBetter: true,
	run: func(ctx context.Context, o *Options, r *Result) error {
		defer fork.Shutdown(ctx)
		seg, ev, err := newBlock[locks.Event]()
		if err != nil {
			return err
		}
		defer seg.Close()
		measure := func(loop loopFunc, m fork.Method) (float64, error) {
			opts := &fork.Options{Method: m}
			sm := newSamples()
			_, _, err := loop(func() error {
				if m == fork.ForkServer {
					// Steady state: the server's idle workers (2) are
					// ready, and none is still starting.
					if err := fork.WarmUp(ctx, idleWorkers); err != nil {
						return err
					}
				}
				ev.Clear()
				t0 := time.Now()
				p, err := fork.Start(ctx, runningTask, seg, opts)
				if err != nil {
					return err
				}
				err = ev.Wait(ctx)
				sm.add(time.Since(t0))
				if err != nil {
					kill(p)
					return err
				}
				return p.Join(ctx)
			})
			return sm.percentile(50) / 1e3, err
		}
		if r.Value, err = measure(o.loop(), fork.ForkServer); err != nil {
			return err
		}
		v, err := measure(budgetLoop(o.budget()), fork.Spawn)
		r.add("fork Spawn", v, err)
		v, err = o.pyFigure(ctx, "p50_ns", 1e-3, "forkserver")
		r.add("Python forkserver", v, err)
		return nil
	},
}

// poolInputs is the size of the pool case's map.
const poolInputs = 100_000

var poolMap = Case{
	Name: "fork/Pool.Map 100k",
	About: "fork.Map of x*x over 100,000 ints on a Pool of 2 worker processes, default chunk size; " +
		"vs 2 goroutines taking the same chunks from a channel in one process, and Python's Pool(2).map",
	Unit: "M-tasks/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		pool, err := fork.NewPool(2, nil)
		if err != nil {
			return err
		}
		defer func() {
			pool.Close()
			_ = pool.Join(ctx)
		}()
		in := make([]int, poolInputs)
		for i := range in {
			in[i] = i
		}
		mapOnce := func() error {
			out, err := fork.Map(ctx, pool, squareTask, in)
			if err == nil && (len(out) != len(in) || out[len(in)-1] != (len(in)-1)*(len(in)-1)) {
				err = fmt.Errorf("wrong results")
			}
			return err
		}
		if err := mapOnce(); err != nil { // warm up: the workers run
			return err
		}
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			n, d, err := loop(mapOnce)
			return perSecond(int64(n)*poolInputs, d), err
		})
		if err != nil {
			return err
		}
		// Python's default chunk size, which Pool uses too: len/(4*workers).
		chunk := (len(in) + 7) / 8
		v, err := o.baselineMedian(func(loop loopFunc) (float64, error) {
			n, d, err := loop(func() error {
				out := goroutineMap(in, 2, chunk)
				if out[len(in)-1] != (len(in)-1)*(len(in)-1) {
					return fmt.Errorf("wrong results")
				}
				return nil
			})
			return perSecond(int64(n)*poolInputs, d), err
		})
		r.add("goroutines", v, err)
		v, err = o.pyFigure(ctx, "tasks_per_s", 1e-6, "pool")
		r.add("Python Pool.map", v, err)
		return nil
	},
}

// goroutineMap squares in with workers goroutines taking chunks from a
// channel, into a new slice.
func goroutineMap(in []int, workers, chunk int) []int {
	out := make([]int, len(in))
	jobs := make(chan int, len(in)/chunk+1)
	for i := 0; i < len(in); i += chunk {
		jobs <- i
	}
	close(jobs)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for s := range jobs {
				for i := s; i < min(s+chunk, len(in)); i++ {
					out[i] = in[i] * in[i]
				}
			}
		})
	}
	wg.Wait()
	return out
}
