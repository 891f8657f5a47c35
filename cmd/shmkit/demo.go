package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// The demo: Python multiprocessing's classic scenarios, each across real
// processes started with package fork.

// Tasks run in worker processes (this binary, re-executed; main calls
// fork.Main first).
var (
	demoCount = fork.Register("demo.count", func(ctx context.Context, a countArgs) (time.Duration, error) {
		defer a.V.Close()
		t0 := time.Now()
		for range a.N {
			a.V.Lock()
			a.V.Store(a.V.Load() + 1)
			a.V.Unlock()
		}
		return time.Since(t0), nil
	})
	demoConsume = fork.Register("demo.consume", func(ctx context.Context, q *ring.Queue[int64]) (consumed, error) {
		defer q.Detach()
		var c consumed
		for {
			v, err := q.Get(ctx)
			if errors.Is(err, ring.ErrClosed) {
				return c, nil
			}
			if err != nil {
				return c, err
			}
			c.N++
			c.Sum += v
		}
	})
	demoEcho = fork.Register("demo.echo", func(ctx context.Context, c *ring.Conn) (int, error) {
		defer c.Close()
		n := 0
		for {
			msg, err := c.Recv(ctx)
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if err := c.Send(ctx, msg); err != nil {
				return n, err
			}
			n++
		}
	})
	demoSquare = fork.Register("demo.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	demoMeet   = fork.Register("demo.meet", func(ctx context.Context, b shm.Ptr[locks.Barrier]) ([]int, error) {
		bar, seg, err := b.Open()
		if err != nil {
			return nil, err
		}
		defer seg.Close()
		var idx []int
		for range 3 {
			i, err := bar.Wait(ctx)
			if err != nil {
				return idx, err
			}
			idx = append(idx, i)
		}
		return idx, nil
	})
)

type countArgs struct {
	V *rawarray.Value[int64]
	N int
}

type consumed struct {
	N   int
	Sum int64
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "Run Python multiprocessing's classic scenarios across real processes:\n"+
		"a shared counter, a producer/consumer queue, a pipe ping-pong, a pool\n"+
		"map and a barrier, printing what happened and how long it took.", stderr)
	workers := fs.Int("workers", 4, "processes in the counter and barrier scenarios (1-64)")
	n := fs.Int("n", 100000, "increments per process in the counter scenario")
	method := fs.String("method", "forkserver", "start method: spawn, fork or forkserver")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *workers < 1 || *workers > 64 {
		return fmt.Errorf("--workers %d: must be between 1 and 64", *workers)
	}
	if *n < 0 {
		return fmt.Errorf("--n %d: must not be negative", *n)
	}
	m, err := parseMethod(*method)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	defer fork.Shutdown(ctx)
	if m == fork.ForkServer {
		if err := fork.WarmUp(ctx, *workers); err != nil {
			return err
		}
	}
	opts := &fork.Options{Method: m}
	fmt.Fprintf(stdout, "shmkit demo: processes started with %s; pid %d is the parent\n\n", m, os.Getpid())
	for _, s := range []struct {
		name string
		run  func() error
	}{
		{"counter", func() error { return demoCounter(ctx, stdout, opts, *workers, *n) }},
		{"queue", func() error { return demoQueue(ctx, stdout, opts) }},
		{"pipe", func() error { return demoPipe(ctx, stdout, opts) }},
		{"pool", func() error { return demoPool(ctx, stdout, m) }},
		{"barrier", func() error { return demoBarrier(ctx, stdout, opts, *workers) }},
	} {
		if err := s.run(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func parseMethod(s string) (fork.Method, error) {
	for _, m := range fork.StartMethods() {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("--method %q: want spawn, fork or forkserver", s)
}

// demoCounter: processes increment one shared Value under its lock.
func demoCounter(ctx context.Context, w io.Writer, opts *fork.Options, workers, n int) error {
	fmt.Fprintf(w, "== counter: %d processes × %d increments of one shared rawarray.Value under its lock\n", workers, n)
	v, err := rawarray.NewValue[int64](0)
	if err != nil {
		return err
	}
	defer v.Close()
	t0 := time.Now()
	var ps []*fork.Process
	for range workers {
		p, err := fork.Start(ctx, demoCount, countArgs{V: v, N: n}, opts)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		d, err := demoCount.Result(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   %s (pid %d): %d increments in %v\n", p.Name(), p.Pid(), n, d.Round(time.Microsecond))
	}
	wall := time.Since(t0)
	total, want := v.Load(), int64(workers)*int64(n)
	fmt.Fprintf(w, "   total %d (expected %d) in %v, processes started and joined included\n", total, want, wall.Round(time.Microsecond))
	if total != want {
		return fmt.Errorf("lost updates: %d, expected %d", total, want)
	}
	return nil
}

// demoQueue: the parent produces, two processes consume.
func demoQueue(ctx context.Context, w io.Writer, opts *fork.Options) error {
	const items = 200000
	fmt.Fprintf(w, "== queue: the parent puts %d ints into a ring.Queue; 2 processes take them\n", items)
	q, err := ring.NewQueue[int64](1024)
	if err != nil {
		return err
	}
	defer q.Detach()
	var ps []*fork.Process
	for range 2 {
		p, err := fork.Start(ctx, demoConsume, q, opts)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	t0 := time.Now()
	var sum int64
	for i := range int64(items) {
		if err := q.Put(ctx, i); err != nil {
			return err
		}
		sum += i
	}
	q.Close() // consumers drain, then see ErrClosed
	var got consumed
	for _, p := range ps {
		c, err := demoConsume.Result(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   %s took %d items\n", p.Name(), c.N)
		got.N += c.N
		got.Sum += c.Sum
	}
	wall := time.Since(t0)
	fmt.Fprintf(w, "   %d items, sum %d (expected %d), in %v: %.1f M items/s\n", got.N, got.Sum, sum, wall.Round(time.Microsecond), float64(got.N)/wall.Seconds()/1e6)
	if got.N != items || got.Sum != sum {
		return errors.New("items lost or duplicated")
	}
	return nil
}

// demoPipe: round trips over a duplex pipe with an echoing process.
func demoPipe(ctx context.Context, w io.Writer, opts *fork.Options) error {
	const trips = 10000
	fmt.Fprintf(w, "== pipe: %d round trips of an 8-byte message over a duplex ring.Pipe\n", trips)
	a, b, err := ring.Pipe(true)
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := fork.Start(ctx, demoEcho, b, opts)
	if err != nil {
		return err
	}
	b.Detach() // the child has its end
	msg := []byte("ping-pon")
	rtts := make([]time.Duration, 0, trips)
	for range trips {
		t := time.Now()
		if err := a.Send(ctx, msg); err != nil {
			return err
		}
		if _, err := a.Recv(ctx); err != nil {
			return err
		}
		rtts = append(rtts, time.Since(t))
	}
	a.Close()
	n, err := demoEcho.Result(ctx, p)
	if err != nil {
		return err
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	fmt.Fprintf(w, "   %s echoed %d messages; round trip p50 %v, p99 %v\n", p.Name(), n, rtts[len(rtts)/2], rtts[len(rtts)*99/100])
	return nil
}

// demoPool: Pool.Map of squares.
func demoPool(ctx context.Context, w io.Writer, m fork.Method) error {
	fmt.Fprintln(w, "== pool: fork.Map of squares on a pool of 2 worker processes")
	pool, err := fork.NewPool(2, &fork.PoolOptions{Method: m})
	if err != nil {
		return err
	}
	defer pool.Join(ctx)
	defer pool.Close()
	small, err := fork.Map(ctx, pool, demoSquare, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   squares of 1..10: %v\n", small)
	in := make([]int, 100000)
	for i := range in {
		in[i] = i
	}
	t0 := time.Now()
	out, err := fork.Map(ctx, pool, demoSquare, in)
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	if out[99999] != 99999*99999 {
		return errors.New("wrong result")
	}
	fmt.Fprintf(w, "   100000 tasks in %v: %.1f M tasks/s\n", wall.Round(time.Microsecond), float64(len(in))/wall.Seconds()/1e6)
	return nil
}

// demoBarrier: processes meet three times at a barrier.
func demoBarrier(ctx context.Context, w io.Writer, opts *fork.Options, workers int) error {
	fmt.Fprintf(w, "== barrier: %d processes meet 3 times at a locks.Barrier\n", workers)
	seg, err := shm.Anonymous(4096)
	if err != nil {
		return err
	}
	defer seg.Close()
	bar, err := ctypes.View[locks.Barrier](seg.Bytes())
	if err != nil {
		return err
	}
	bar.Init(workers)
	ptr, err := shm.PtrTo(bar)
	if err != nil {
		return err
	}
	var ps []*fork.Process
	for range workers {
		p, err := fork.Start(ctx, demoMeet, ptr, opts)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	gens := make([][]string, 3)
	for _, p := range ps {
		idx, err := demoMeet.Result(ctx, p)
		if err != nil {
			return err
		}
		for g, i := range idx {
			gens[g] = append(gens[g], fmt.Sprintf("%s→%d", p.Name(), i))
		}
	}
	for g, arrivals := range gens {
		fmt.Fprintf(w, "   generation %d: %s\n", g, strings.Join(arrivals, ", "))
	}
	return nil
}
