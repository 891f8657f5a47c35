package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

// counterDemo is the segment's layout: C-like, pointer-free, with the lock
// that guards total inside it.
type counterDemo struct {
	start   locks.Barrier // workers and parent start together
	mu      locks.Mutex
	total   int64 // guarded by mu
	done    [maxWorkers]int64
	pids    [maxWorkers]int64
	nanos   [maxWorkers]int64
	workers int64
}

const (
	maxWorkers = 64
	workerEnv  = "SHMKIT_DEMO_WORKER" // segment name and worker index
)

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "Start worker processes that map one shared-memory segment and count\n"+
		"together under a process-shared lock, then print what each did.", stderr)
	workers := fs.Int("workers", 2, "number of worker processes (1-64)")
	n := fs.Int("n", 100000, "increments per worker")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *workers < 1 || *workers > maxWorkers {
		return fmt.Errorf("--workers %d: must be between 1 and %d", *workers, maxWorkers)
	}
	if *n < 0 {
		return fmt.Errorf("--n %d: must not be negative", *n)
	}
	return counter(stdout, *workers, *n)
}

func counter(w io.Writer, workers, n int) error {
	name := fmt.Sprintf("shmkit-demo-%d", os.Getpid())
	size := int64(4096)
	seg, err := shm.Create(name, size, nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	defer seg.Unlink() // workers have it mapped by then; the name can go
	d, err := ctypes.View[counterDemo](seg.Bytes())
	if err != nil {
		return err
	}
	d.start.Init(workers + 1)
	d.workers = int64(workers)
	fmt.Fprintf(w, "== counter: %d processes × %d increments of one int64 in /dev/shm/%s, under a locks.Mutex\n", workers, n, name)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds []*exec.Cmd
	for i := 0; i < workers; i++ {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%d", workerEnv, name, i, n))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Everyone is mapped and ready once the barrier trips.
	if _, err := d.start.Wait(ctx); err != nil {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		return fmt.Errorf("workers did not start: %w", err)
	}
	t0 := time.Now()
	var errs []error
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
		}
	}
	wall := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i := 0; i < workers; i++ {
		fmt.Fprintf(w, "   worker %d (pid %d): %d increments in %v\n", i, atomic.LoadInt64(&d.pids[i]),
			atomic.LoadInt64(&d.done[i]), time.Duration(atomic.LoadInt64(&d.nanos[i])).Round(time.Microsecond))
	}
	d.mu.Lock()
	total := d.total
	d.mu.Unlock()
	want := int64(workers) * int64(n)
	fmt.Fprintf(w, "   total %d (expected %d) in %v: %.1f M locked increments/s across processes\n",
		total, want, wall.Round(time.Microsecond), float64(total)/wall.Seconds()/1e6)
	if total != want {
		return fmt.Errorf("lost updates: total %d, expected %d", total, want)
	}
	return nil
}

func isDemoWorker() bool { return os.Getenv(workerEnv) != "" }

// demoWorker is a worker process: map the segment, wait for everyone, count.
func demoWorker() int {
	var name string
	var idx, n int
	if _, err := fmt.Sscanf(replaceColons(os.Getenv(workerEnv)), "%s %d %d", &name, &idx, &n); err != nil || idx < 0 || idx >= maxWorkers {
		fmt.Fprintf(os.Stderr, "shmkit demo worker: bad %s=%q\n", workerEnv, os.Getenv(workerEnv))
		return 2
	}
	seg, err := shm.Open(name, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmkit demo worker:", err)
		return 1
	}
	defer seg.Close()
	d, err := ctypes.View[counterDemo](seg.Bytes())
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmkit demo worker:", err)
		return 1
	}
	atomic.StoreInt64(&d.pids[idx], int64(os.Getpid()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.start.Wait(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shmkit demo worker: start:", err)
		return 1
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		d.mu.Lock()
		d.total++
		d.mu.Unlock()
	}
	atomic.StoreInt64(&d.nanos[idx], int64(time.Since(t0)))
	atomic.StoreInt64(&d.done[idx], int64(n))
	return 0
}

func replaceColons(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == ':' {
			b[i] = ' '
		}
	}
	return string(b)
}
