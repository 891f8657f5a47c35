package fork_test

import (
	"context"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
)

// countArgs carries shared objects to a child whole: a rawarray Value and a
// pointer to the user's own struct in a segment.
type countArgs struct {
	V *rawarray.Value[int64]
	S shm.Ptr[counters]
	N int
}

// counters is a user's C-layout struct with a process-shared lock in it.
type counters struct {
	Mu    locks.Mutex
	Count int64
}

var count = fork.Register("count", func(ctx context.Context, a countArgs) (int, error) {
	defer a.V.Close()
	c, seg, err := a.S.Open()
	if err != nil {
		return 0, err
	}
	defer seg.Close()
	for range a.N {
		a.V.Lock()
		a.V.Store(a.V.Load() + 1)
		a.V.Unlock()
		c.Mu.Lock()
		c.Count++
		c.Mu.Unlock()
	}
	return a.N, nil
})

// TestSharedValueFourProcesses passes one shared Value (and a Mutex-guarded
// counter in the user's own struct) to 4 processes, for each start method.
func TestSharedValueFourProcesses(t *testing.T) {
	for _, m := range fork.StartMethods() {
		t.Run(m.String(), func(t *testing.T) {
			ctx := ctxT(t)
			v, err := rawarray.NewValue[int64](0)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			seg, err := shm.Anonymous(4096)
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			c, err := ctypes.View[counters](seg.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			ptr, err := shm.PtrTo(c)
			if err != nil {
				t.Fatal(err)
			}
			const procs, n = 4, 10000
			var ps []*fork.Process
			for range procs {
				p, err := fork.Start(ctx, count, countArgs{V: v, S: ptr, N: n}, &fork.Options{Method: m})
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			for _, p := range ps {
				if got, err := count.Result(ctx, p); err != nil || got != n {
					t.Fatalf("%s: %d %v", p.Name(), got, err)
				}
			}
			if v.Load() != procs*n || c.Count != procs*n {
				t.Fatalf("Value %d, struct counter %d; want %d", v.Load(), c.Count, procs*n)
			}
		})
	}
}

// TestForkChildOpensUnlinkedNamedValue: a Value in a named segment whose
// name was already removed still reaches a Fork child, by descriptor.
func TestForkChildOpensUnlinkedNamedValue(t *testing.T) {
	ctx := ctxT(t)
	v, err := rawarray.NewValueOptions[int64](0, &rawarray.Options{Name: proctest.Name(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Unlink(); err != nil {
		t.Fatal(err)
	}
	seg, _ := shm.Anonymous(4096)
	defer seg.Close()
	c, _ := ctypes.View[counters](seg.Bytes())
	ptr, _ := shm.PtrTo(c)
	if n, err := fork.Run(ctx, count, countArgs{V: v, S: ptr, N: 10}, &fork.Options{Method: fork.Fork}); err != nil || n != 10 {
		t.Fatalf("Fork child with an unlinked named Value: %d %v", n, err)
	}
	if v.Load() != 10 {
		t.Fatalf("Value %d, want 10", v.Load())
	}
}

type sharedLocksArgs struct {
	Mu    *locks.SharedMutex
	Ready *locks.SharedEvent
	V     *rawarray.Value[int64]
}

var useSharedLocks = fork.Register("useSharedLocks", func(ctx context.Context, a sharedLocksArgs) (int, error) {
	defer a.Mu.Close()
	defer a.Ready.Close()
	defer a.V.Close()
	if err := a.Ready.Wait(ctx); err != nil {
		return 0, err
	}
	for range 1000 {
		a.Mu.Lock()
		a.V.Store(a.V.Load() + 1) // guarded by the shared Mutex, not the Value's own lock
		a.Mu.Unlock()
	}
	return 0, nil
})

// TestSharedLocksInChildren passes the convenience-layer locks (each in its
// own segment) to child processes, as Python passes multiprocessing.Lock().
func TestSharedLocksInChildren(t *testing.T) {
	ctx := ctxT(t)
	mu, err := locks.NewMutex()
	if err != nil {
		t.Fatal(err)
	}
	defer mu.Close()
	ready, err := locks.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer ready.Close()
	vv, err := rawarray.NewValue[int64](0)
	if err != nil {
		t.Fatal(err)
	}
	defer vv.Close()
	var ps []*fork.Process
	for range 3 {
		p, err := fork.Start(ctx, useSharedLocks, sharedLocksArgs{Mu: mu, Ready: ready, V: vv}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	ready.Set()
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if vv.Load() != 3000 {
		t.Fatalf("counter %d, want 3000", vv.Load())
	}
}
