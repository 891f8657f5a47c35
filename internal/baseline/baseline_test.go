package baseline

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	r := Parse([]byte("case=x ns_per_op=12.5 n=3\nother=abc rate=1e6\n"))
	if r["ns_per_op"] != 12.5 || r["n"] != 3 || r["rate"] != 1e6 || len(r) != 3 {
		t.Fatalf("%v", r)
	}
}

func TestC(t *testing.T) {
	r, err := C(`#include <stdio.h>
int main(int argc, char **argv) { printf("answer=%d argc=%d\n", 42, argc); return 0; }`, "a", "b")
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r["answer"] != 42 || r["argc"] != 3 {
		t.Fatalf("%v", r)
	}
}

func TestPython(t *testing.T) {
	r, err := Python("import sys; print('n=%d' % len(sys.argv))", "x")
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r["n"] != 2 {
		t.Fatalf("%v", r)
	}
}

func TestRunPython(t *testing.T) {
	script := "import sys; print('n=%d' % len(sys.argv))"
	for range 2 { // the second run finds the file written
		r, err := RunPython(context.Background(), script, "x", "y")
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r["n"] != 3 {
			t.Fatalf("%v", r)
		}
	}
}

func TestRunFails(t *testing.T) {
	_, err := RunC(context.Background(), `#include <stdio.h>
int main(void) { fputs("no luck", stderr); return 3; }`, "a")
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err == nil || !strings.Contains(err.Error(), "no luck") {
		t.Fatalf("err = %v, want the program's stderr in it", err)
	}
}

// TestSources runs each mode of CSource and PySource briefly and checks
// that it prints the figures its users read.
func TestSources(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every baseline (seconds)")
	}
	c := func(args ...string) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) { return RunC(ctx, CSource, args...) }
	}
	py := func(args ...string) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) { return RunPython(ctx, PySource, args...) }
	}
	pingPong := []string{"p50_ns", "p99_ns", "mean_ns", "n"}
	contended := []string{"incr_per_s", "ns_per_incr", "peer_share"}
	for _, m := range []struct {
		name string
		run  func(context.Context) (Result, error)
		keys []string
		n    float64 // the n printed, if not 0
	}{
		{"C mutex-uncontended", c("mutex-uncontended", "1", "1"), []string{"ns_per_op", "n"}, 0},
		{"C mutex-contended", c("mutex-contended", "0", "1"), contended, 0},
		{"C mutex-contended pin", c("mutex-contended", "1", "1", "pin"), contended, 0},
		{"C sem-pingpong pin", c("sem-pingpong", "1", "pin"), pingPong, 0},
		{"C ring budget", c("ring", "8", "1"), []string{"mps", "n"}, 0},
		{"C ring limit", c("ring", "64", "0", "10000"), []string{"mps", "n"}, 10000},
		{"C spin budget", c("spin", "1"), []string{"p50_ns", "p99_ns", "n"}, 0},
		{"C spin limit no pause", c("spin", "0", "1000", "0"), []string{"p50_ns", "p99_ns", "n"}, 1000},
		{"Python event", py("event", "1"), pingPong, 0},
		{"Python semaphore pin", py("semaphore", "1", "pin"), pingPong, 0},
		{"Python value", py("value", "1"), []string{"incr_per_s"}, 0},
		{"Python pipe", py("pipe", "1000", "50"), []string{"p50_ns", "p99_ns", "n"}, 50},
		{"Python queue", py("queue", "1"), []string{"items_per_s"}, 0},
		{"Python queue-drain", py("queue-drain", "0", "1000"), []string{"items_per_s", "n"}, 1000},
		{"Python simplequeue-drain", py("simplequeue-drain", "0", "1000"), []string{"items_per_s", "n"}, 1000},
		{"Python shm", py("shm", "1"), []string{"ns_per_op"}, 0},
		{"Python spawn", py("spawn", "1"), []string{"p50_ns", "n"}, 0},
		{"Python forkserver", py("forkserver", "1"), []string{"p50_ns", "n"}, 0},
		{"Python pool", py("pool", "1"), []string{"tasks_per_s"}, 0},
	} {
		t.Run(m.name, func(t *testing.T) {
			r, err := m.run(context.Background())
			if errors.Is(err, ErrUnavailable) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range m.keys {
				if v, ok := r[k]; !ok || v < 0 {
					t.Errorf("%s = %v in %v", k, v, r)
				}
			}
			if m.n != 0 && r["n"] != m.n {
				t.Errorf("n = %v, want %v", r["n"], m.n)
			}
		})
	}
}
