package fork_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

var (
	square = fork.Register("square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})
	failing = fork.Register("failing", func(ctx context.Context, msg string) (int, error) {
		return 0, errors.New(msg)
	})
	panicking = fork.Register("panicking", func(ctx context.Context, msg string) (int, error) {
		panic(msg)
	})
	exiting = fork.Register("exiting", func(ctx context.Context, code int) (int, error) {
		os.Exit(code)
		return 0, nil
	})
	sleeping = fork.Register("sleeping", func(ctx context.Context, _ struct{}) (string, error) {
		<-ctx.Done() // until cancelled, killed or orphaned
		return "", ctx.Err()
	})
	whoami = fork.Register("whoami", func(ctx context.Context, _ struct{}) (fork.ProcessInfo, error) {
		return fork.CurrentProcess(), nil
	})
	// touch increments the first byte of the referenced segment.
	touch = fork.Register("touch", func(ctx context.Context, r shm.Ref) (byte, error) {
		seg, err := shm.OpenRef(r, nil)
		if err != nil {
			return 0, err
		}
		defer seg.Close()
		seg.Bytes()[0]++
		return seg.Bytes()[0], nil
	})
)

func TestMain(m *testing.M) {
	fork.Main()
	proctest.Main(m, map[string]proctest.Role{
		"orphan-parent": orphanParent,
	})
}

const timeout = time.Minute

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	t.Cleanup(func() {
		if err := fork.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ctx
}

func TestEachMethod(t *testing.T) {
	for _, m := range fork.StartMethods() {
		t.Run(m.String(), func(t *testing.T) {
			ctx := ctxT(t)
			v, err := fork.Run(ctx, square, 7, &fork.Options{Method: m})
			if err != nil || v != 49 {
				t.Fatalf("square(7) = %d, %v", v, err)
			}
			info, err := fork.Run(ctx, whoami, struct{}{}, &fork.Options{Method: m, Name: "worker-x"})
			if err != nil {
				t.Fatal(err)
			}
			if info.Name != "worker-x" || info.ParentPid != os.Getpid() || info.Method != m || !info.Worker || info.Pid == os.Getpid() {
				t.Fatalf("child sees itself as %+v", info)
			}
		})
	}
}

func TestTwoProcessesStartedAndJoined(t *testing.T) {
	ctx := ctxT(t)
	p1, err := fork.Start(ctx, square, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := fork.Start(ctx, square, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Pid() == p2.Pid() || p1.Name() == p2.Name() {
		t.Fatalf("two processes share pid or name: %d %s / %d %s", p1.Pid(), p1.Name(), p2.Pid(), p2.Name())
	}
	for _, p := range []*fork.Process{p1, p2} {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
		if p.Alive() || p.ExitCode() != 0 {
			t.Fatalf("%s after Join: alive %v, exit code %d", p.Name(), p.Alive(), p.ExitCode())
		}
	}
	if v, err := square.Result(ctx, p2); err != nil || v != 16 {
		t.Fatalf("result %d %v", v, err)
	}
	if _, err := failing.Result(ctx, p1); err == nil {
		t.Fatal("Result with the wrong task succeeded")
	}
}

func TestRemoteErrors(t *testing.T) {
	ctx := ctxT(t)
	_, err := fork.Run(ctx, failing, "boom", nil)
	var re *fork.RemoteError
	if !errors.As(err, &re) || re.Message != "boom" || re.Panic || re.Task != "failing" || re.Pid == 0 {
		t.Fatalf("error return: %#v", err)
	}
	p, err := fork.Start(ctx, panicking, "kaboom", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Join(ctx)
	if !errors.As(err, &re) || !re.Panic || re.Message != "kaboom" || !strings.Contains(re.Stack, "main_test.go") {
		t.Fatalf("panic: %#v", err)
	}
	if p.ExitCode() != 1 {
		t.Fatalf("exit code after a failed task: %d", p.ExitCode())
	}
}

func TestDeathAndSignals(t *testing.T) {
	ctx := ctxT(t)
	p, err := fork.Start(ctx, exiting, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); !errors.Is(err, fork.ErrWorkerDied) || p.ExitCode() != 5 {
		t.Fatalf("os.Exit(5) in a task: %v, exit code %d", err, p.ExitCode())
	}
	for _, tc := range []struct {
		name string
		stop func(*fork.Process) error
		code int
	}{
		{"Kill", (*fork.Process).Kill, -9},
		{"Terminate", (*fork.Process).Terminate, -15},
	} {
		p, err := fork.Start(ctx, sleeping, struct{}{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Alive() || p.ExitCode() != fork.StillRunning {
			t.Fatalf("fresh process: alive %v, exit code %d", p.Alive(), p.ExitCode())
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		if err := p.Join(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Join of a running process with a deadline: %v", err)
		}
		cancel()
		if err := tc.stop(p); err != nil {
			t.Fatal(err)
		}
		if err := p.Join(ctx); !errors.Is(err, fork.ErrWorkerDied) || p.ExitCode() != tc.code {
			t.Fatalf("%s: %v, exit code %d, want %d", tc.name, err, p.ExitCode(), tc.code)
		}
		if err := tc.stop(p); err != nil {
			t.Fatalf("%s of an ended process: %v", tc.name, err)
		}
	}
}

func TestContextCancelsTask(t *testing.T) {
	ctx := ctxT(t)
	tctx, cancel := context.WithCancel(ctx)
	p, err := fork.Start(tctx, sleeping, struct{}{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fork.ActiveChildren()) == 0 {
		t.Fatal("ActiveChildren is empty while a child runs")
	}
	cancel()
	var re *fork.RemoteError
	if err := p.Join(ctx); !errors.As(err, &re) || re.Message != context.Canceled.Error() {
		t.Fatalf("cancelled task: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Join")
	}
}

func TestSegmentsByMethod(t *testing.T) {
	ctx := ctxT(t)
	anon, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	named, err := shm.Create(proctest.Name(t), 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer named.Unlink()
	defer named.Close()

	// Fork hands over every live segment, anonymous ones included.
	if v, err := fork.Run(ctx, touch, anon.Ref(), &fork.Options{Method: fork.Fork}); err != nil || v != 1 {
		t.Fatalf("fork, anonymous: %d %v", v, err)
	}
	// Spawn and ForkServer reopen named segments by name and get
	// anonymous ones by descriptor.
	for _, m := range []fork.Method{fork.Spawn, fork.ForkServer} {
		if _, err := fork.Run(ctx, touch, named.Ref(), &fork.Options{Method: m}); err != nil {
			t.Fatalf("%v, named: %v", m, err)
		}
		if _, err := fork.Run(ctx, touch, anon.Ref(), &fork.Options{Method: m}); err != nil {
			t.Fatalf("%v, anonymous: %v", m, err)
		}
	}
	// A segment closed before the start is gone for the child.
	gone, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	goneRef := gone.Ref()
	gone.Close()
	var re *fork.RemoteError
	if _, err := fork.Run(ctx, touch, goneRef, nil); !errors.As(err, &re) || !strings.Contains(re.Message, "not inherited") {
		t.Fatalf("closed anonymous segment: %v", err)
	}
	if anon.Bytes()[0] != 3 || named.Bytes()[0] != 2 {
		t.Fatalf("children's writes: anonymous %d, named %d", anon.Bytes()[0], named.Bytes()[0])
	}
}

func TestStartMethodSetting(t *testing.T) {
	defer fork.SetStartMethod(fork.Spawn)
	if err := fork.SetStartMethod(fork.Method(42)); !errors.Is(err, fork.ErrMethod) {
		t.Fatal(err)
	}
	if _, err := fork.Start(context.Background(), square, 1, &fork.Options{Method: fork.Method(42)}); !errors.Is(err, fork.ErrMethod) {
		t.Fatal(err)
	}
	if err := fork.SetStartMethod(fork.ForkServer); err != nil || fork.StartMethod() != fork.ForkServer {
		t.Fatal(err, fork.StartMethod())
	}
	ctx := ctxT(t)
	p, err := fork.Start(ctx, square, 5, nil)
	if err != nil || p.Method() != fork.ForkServer {
		t.Fatal(err)
	}
	if v, err := square.Result(ctx, p); err != nil || v != 25 {
		t.Fatal(v, err)
	}
}

// orphanParent starts a sleeping child, reports its pid on stdout and waits
// to be killed.
func orphanParent() int {
	m := fork.Method(0)
	if len(proctest.Args()) > 0 {
		n, _ := strconv.Atoi(proctest.Args()[0])
		m = fork.Method(n)
	}
	p, err := fork.Start(context.Background(), sleeping, struct{}{}, &fork.Options{Method: m})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("child=%d\n", p.Pid())
	for {
		time.Sleep(time.Hour)
	}
}

// TestChildDiesWithParent kills a parent and checks that its worker
// follows: we become the subreaper, so the orphan is reparented to us and
// we can reap it.
func TestChildDiesWithParent(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	for _, m := range fork.StartMethods() {
		t.Run(m.String(), func(t *testing.T) {
			c := proctest.Start(t, "orphan-parent", []string{strconv.Itoa(int(m))}, nil)
			var pid int
			deadline := time.Now().Add(timeout)
			for pid == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no child pid; output %q", c.Output())
				}
				fmt.Sscanf(c.Output(), "child=%d", &pid)
				time.Sleep(time.Millisecond)
			}
			c.Kill()
			var ws unix.WaitStatus
			got, err := unix.Wait4(pid, &ws, 0, nil)
			if err != nil || got != pid {
				t.Fatalf("reaping the orphan %d: %d %v", pid, got, err)
			}
			if !ws.Exited() {
				t.Fatalf("orphan ended by %v, want a clean exit", ws)
			}
			// The parent's idle ForkServer workers are orphans too.
			for _, p := range proctest.Children() {
				var ws unix.WaitStatus
				_, _ = unix.Wait4(p, &ws, 0, nil)
			}
		})
	}
}
