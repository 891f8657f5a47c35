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
