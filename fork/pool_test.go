package fork_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

var (
	pid = fork.Register("pid", func(ctx context.Context, _ int) (int, error) { return os.Getpid(), nil })
	// failOn fails for 13, panics for 17, exits the worker for 99.
	failOn = fork.Register("failOn", func(ctx context.Context, x int) (int, error) {
		switch x {
		case 13:
			return 0, errors.New("unlucky")
		case 17:
			panic("seventeen")
		case 99:
			os.Exit(3)
		}
		return x, nil
	})
	initValue string
	setInit   = fork.Register("setInit", func(ctx context.Context, v string) (int, error) { initValue = v; return 0, nil })
	failInit  = fork.Register("failInit", func(ctx context.Context, v string) (int, error) { return 0, errors.New(v) })
	getInit   = fork.Register("getInit", func(ctx context.Context, _ int) (string, error) { return initValue, nil })
	add       = fork.Register2("add", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
	waitTurn  = fork.Register("waitTurn", func(ctx context.Context, a turnArgs) (int, error) {
		sems, seg, err := a.Sems.Open()
		if err != nil {
			return 0, err
		}
		defer seg.Close()
		if err := sems[a.I].Acquire(ctx); err != nil {
			return 0, err
		}
		return a.I, nil
	})
	blockForever = fork.Register("blockForever", func(ctx context.Context, r shm.Ref) (int, error) {
		seg, err := shm.OpenRef(r, nil)
		if err != nil {
			return 0, err
		}
		defer seg.Close()
		v, _ := ctypes.View[int64](seg.Bytes())
		*v = int64(os.Getpid())
		<-ctx.Done()
		return 0, nil
	})
)

type turnArgs struct {
	Sems shm.Ptr[[3]locks.Semaphore]
	I    int
}

func newPool(t *testing.T, n int, opts *fork.PoolOptions) *fork.Pool {
	t.Helper()
	p, err := fork.NewPool(n, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Terminate()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Join(ctx); err != nil {
			t.Errorf("Join after Terminate: %v", err)
		}
	})
	return p
}

func TestPoolMapEachMethod(t *testing.T) {
	for _, m := range fork.StartMethods() {
		t.Run(m.String(), func(t *testing.T) {
			ctx := ctxT(t)
			p := newPool(t, 2, &fork.PoolOptions{Method: m})
			in := make([]int, 1000)
			for i := range in {
				in[i] = i
			}
			for _, chunk := range []int{0, 1, 7, 1000, 5000} {
				out, err := fork.MapChunked(ctx, p, square, in, chunk)
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				for i, v := range out {
					if v != i*i {
						t.Fatalf("chunk %d: square(%d) = %d", chunk, i, v)
					}
				}
			}
			if out, err := fork.Map(ctx, p, square, nil); err != nil || len(out) != 0 {
				t.Fatalf("empty Map: %v %v", out, err)
			}
			var got []int
			for v, err := range fork.Imap(ctx, p, square, []int{1, 2, 3, 4}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			if !slices.Equal(got, []int{1, 4, 9, 16}) {
				t.Fatalf("Imap: %v", got)
			}
			a := fork.ApplyAsync(p, square, 12)
			if v, err := a.Get(ctx); v != 144 || err != nil || !a.Ready() {
				t.Fatalf("ApplyAsync: %d %v", v, err)
			}
			sums, err := fork.Starmap(ctx, p, add, []fork.Args2[int, int]{{A: 1, B: 2}, {A: 10, B: 20}})
			if err != nil || !slices.Equal(sums, []int{3, 30}) {
				t.Fatalf("Starmap: %v %v", sums, err)
			}
		})
	}
}

// TestImapUnorderedCompletionOrder makes three tasks finish in the order
// 2, 0, 1 (each waits for its own semaphore, released by the test) and
// checks ImapUnordered yields them in that order.
func TestImapUnorderedCompletionOrder(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, 3, nil)
	seg, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	sems, err := ctypes.View[[3]locks.Semaphore](seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ptr, err := shm.PtrTo(sems)
	if err != nil {
		t.Fatal(err)
	}
	args := []turnArgs{{ptr, 0}, {ptr, 1}, {ptr, 2}}
	order := []int{2, 0, 1}
	next, stop := iterPull(fork.ImapUnordered(ctx, p, waitTurn, args))
	defer stop()
	for _, want := range order {
		sems[want].Release()
		v, err, ok := next()
		if !ok || err != nil || v != want {
			t.Fatalf("ImapUnordered yielded %d, %v (ok %v); want %d", v, err, ok, want)
		}
	}
}

func TestPoolErrorsAndDeadWorkers(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, 2, &fork.PoolOptions{ChunkSize: 1})
	var re *fork.RemoteError
	if _, err := fork.Map(ctx, p, failOn, []int{1, 13, 2}); !errors.As(err, &re) || re.Message != "unlucky" {
		t.Fatalf("task error: %v", err)
	}
	if _, err := fork.Map(ctx, p, failOn, []int{17}); !errors.As(err, &re) || !re.Panic || !strings.Contains(re.Stack, "pool_test.go") {
		t.Fatalf("task panic: %v", err)
	}
	// A worker that exits mid-task fails that task, naming it; the pool
	// replaces it and keeps working.
	_, err := fork.Map(ctx, p, failOn, []int{1, 99, 2})
	if !errors.Is(err, fork.ErrWorkerDied) || !strings.Contains(err.Error(), "PoolWorker-") {
		t.Fatalf("worker exit: %v", err)
	}
	if out, err := fork.Map(ctx, p, square, []int{5, 6}); err != nil || !slices.Equal(out, []int{25, 36}) {
		t.Fatalf("after a worker died: %v %v", out, err)
	}
	// A worker SIGKILLed mid-task.
	seg, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	wpid, _ := ctypes.View[int64](seg.Bytes())
	a := fork.ApplyAsync(p, blockForever, seg.Ref())
	deadline := time.Now().Add(time.Minute)
	for *wpid == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := syscall.Kill(int(*wpid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx); !errors.Is(err, fork.ErrWorkerDied) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("killed worker: %v", err)
	}
	if out, err := fork.Map(ctx, p, square, []int{7}); err != nil || out[0] != 49 {
		t.Fatalf("after a worker was killed: %v %v", out, err)
	}
}

func TestPoolMaxTasksAndInitializer(t *testing.T) {
	ctx := ctxT(t)
	init, err := fork.Initializer(setInit, "ready")
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(t, 2, &fork.PoolOptions{MaxTasksPerChild: 2, ChunkSize: 1, Initializer: init})
	pids, err := fork.Map(ctx, p, pid, make([]int, 12))
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[int]bool{}
	for _, p := range pids {
		distinct[p] = true
	}
	if len(distinct) < 6 {
		t.Fatalf("12 chunks, 2 per child: %d distinct workers, want at least 6", len(distinct))
	}
	vals, err := fork.Map(ctx, p, getInit, make([]int, 4))
	if err != nil || vals[0] != "ready" || vals[3] != "ready" {
		t.Fatalf("initializer's effect: %v %v", vals, err)
	}

	bad, err := fork.Initializer(failInit, "no good")
	if err != nil {
		t.Fatal(err)
	}
	p2 := newPool(t, 1, &fork.PoolOptions{Initializer: bad})
	if _, err := fork.Map(ctx, p2, square, []int{1}); err == nil || !strings.Contains(err.Error(), "no good") {
		t.Fatalf("failing initializer: %v", err)
	}
}

func TestPoolCloseJoinTerminate(t *testing.T) {
	ctx := ctxT(t)
	p, err := fork.NewPool(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err == nil {
		t.Fatal("Join of an open pool succeeded")
	}
	a := fork.ApplyAsync(p, square, 9)
	p.Close()
	if v, err := a.Get(ctx); v != 81 || err != nil {
		t.Fatalf("work submitted before Close: %d %v", v, err)
	}
	if _, err := fork.Map(ctx, p, square, []int{1}); !errors.Is(err, fork.ErrPoolClosed) {
		t.Fatalf("Map after Close: %v", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}

	p, err = fork.NewPool(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	seg, _ := shm.Anonymous(4096)
	defer seg.Close()
	a2 := fork.ApplyAsync(p, blockForever, seg.Ref())
	time.Sleep(10 * time.Millisecond)
	if err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Get(ctx); !errors.Is(err, fork.ErrPoolClosed) {
		t.Fatalf("work at Terminate: %v", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
}
