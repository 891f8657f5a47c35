package bench_test

// The suite as Go benchmarks: each BenchmarkXxx runs one case with b.Loop
// timing shmkit's loop (so ns/op is shmkit's cost per operation), then
// measures the case's baselines for -benchtime (one second when it is a
// count) and reports them and the ratios with b.ReportMetric:
//
//	<unit>               shmkit's figure, when it is not ns/op
//	<baseline>-<unit>    a baseline's figure, in the same unit
//	x-vs-<baseline>      how many times better shmkit is (above 1: shmkit wins)
//
// Read several counts with benchstat:
//
//	go test -run='^$' -bench=. -count=6 ./bench/ | tee new.txt
//	benchstat new.txt

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/internal/proctest"
)

func TestMain(m *testing.M) {
	fork.Main()
	proctest.Main(m, nil)
}

// benchmarks maps each case to its benchmark; TestEveryCaseHasABenchmark
// keeps them in step.
var benchmarks = map[string]func(*testing.B){
	"locks/Mutex uncontended":          BenchmarkMutexUncontended,
	"locks/Mutex contended":            BenchmarkMutexContended,
	"locks/Event ping-pong":            BenchmarkEventPingPong,
	"rawarray/Value increment":         BenchmarkValueIncrement,
	"ring/SPSC 8B":                     BenchmarkSPSC8B,
	"ring/Conn ping-pong":              BenchmarkConnPingPong,
	"ring/Conn 64KiB":                  BenchmarkConn64KiB,
	"ring/Queue[int]":                  BenchmarkQueueInt,
	"ring/MPMC 2x2":                    BenchmarkMPMC2x2,
	"shm/create+attach+unlink 4KiB":    BenchmarkShmCreateAttachUnlink,
	"fork/Spawn start+join":            BenchmarkSpawnStartJoin,
	"fork/ForkServer start-to-running": BenchmarkForkServerStart,
	"fork/Pool.Map 100k":               BenchmarkPoolMap,
}

func BenchmarkMutexUncontended(b *testing.B)      { runCase(b, "locks/Mutex uncontended") }
func BenchmarkMutexContended(b *testing.B)        { runCase(b, "locks/Mutex contended") }
func BenchmarkEventPingPong(b *testing.B)         { runCase(b, "locks/Event ping-pong") }
func BenchmarkValueIncrement(b *testing.B)        { runCase(b, "rawarray/Value increment") }
func BenchmarkSPSC8B(b *testing.B)                { runCase(b, "ring/SPSC 8B") }
func BenchmarkConnPingPong(b *testing.B)          { runCase(b, "ring/Conn ping-pong") }
func BenchmarkConn64KiB(b *testing.B)             { runCase(b, "ring/Conn 64KiB") }
func BenchmarkQueueInt(b *testing.B)              { runCase(b, "ring/Queue[int]") }
func BenchmarkMPMC2x2(b *testing.B)               { runCase(b, "ring/MPMC 2x2") }
func BenchmarkShmCreateAttachUnlink(b *testing.B) { runCase(b, "shm/create+attach+unlink 4KiB") }
func BenchmarkSpawnStartJoin(b *testing.B)        { runCase(b, "fork/Spawn start+join") }
func BenchmarkForkServerStart(b *testing.B)       { runCase(b, "fork/ForkServer start-to-running") }
func BenchmarkPoolMap(b *testing.B)               { runCase(b, "fork/Pool.Map 100k") }

func runCase(b *testing.B, name string) {
	c, ok := bench.Lookup(name)
	if !ok {
		b.Fatalf("no case %q", name)
	}
	b.ReportAllocs()
	r, err := c.Run(context.Background(), &bench.Options{Driver: b, Budget: baselineBudget()})
	if err != nil {
		b.Fatal(err)
	}
	if r.Unit != "ns/op" { // b reports ns/op itself, from the same loop
		b.ReportMetric(r.Value, r.Unit)
	}
	for _, m := range r.Metrics {
		b.ReportMetric(m.Value, m.Name+"-"+m.Unit)
	}
	for _, bl := range r.Baselines {
		switch {
		case bl.Error != "":
			b.Errorf("baseline %s: %s", bl.Name, bl.Error)
		case bl.Skipped != "":
			b.Logf("baseline %s skipped: %s", bl.Name, bl.Skipped)
		default:
			s := slug(bl.Name)
			b.ReportMetric(bl.Value, s+"-"+r.Unit)
			b.ReportMetric(bl.Ratio, "x-vs-"+s)
		}
	}
	for _, n := range r.Notes {
		b.Log(n)
	}
}

// baselineBudget is -benchtime when it is a duration, else a second.
func baselineBudget() time.Duration {
	if f := flag.Lookup("test.benchtime"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			return d
		}
	}
	return time.Second
}

// slug makes a baseline's name part of a metric unit: no spaces or slashes.
func slug(name string) string { return strings.NewReplacer(" ", "-", "/", "-").Replace(name) }

func TestEveryCaseHasABenchmark(t *testing.T) {
	cases := bench.Cases()
	for _, c := range cases {
		if benchmarks[c.Name] == nil {
			t.Errorf("case %q has no benchmark", c.Name)
		}
	}
	if len(benchmarks) != len(cases) {
		t.Errorf("%d benchmarks for %d cases", len(benchmarks), len(cases))
	}
}

// TestCases runs every case in a tiny budget: the suite works, its
// baselines run (or say why not), and its figures are usable. It asserts
// no timing.
func TestCases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := &bench.Options{Budget: 10 * time.Millisecond, Reps: 1}
	for _, c := range bench.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			r, err := c.Run(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, c, r)
		})
	}
}

func checkResult(t *testing.T, c bench.Case, r bench.Result) {
	t.Helper()
	if r.Name != c.Name || r.Unit != c.Unit || r.LowerIsBetter != c.LowerIsBetter {
		t.Errorf("result %q in %q (lower is better %v) for case %q in %q (%v)", r.Name, r.Unit, r.LowerIsBetter, c.Name, c.Unit, c.LowerIsBetter)
	}
	if !(r.Value > 0) || strings.ContainsAny(r.Unit, " \t") {
		t.Errorf("value %v %q", r.Value, r.Unit)
	}
	if len(r.Baselines) == 0 {
		t.Error("no baselines")
	}
	for _, b := range r.Baselines {
		switch {
		case b.Error != "":
			t.Errorf("baseline %s failed: %s", b.Name, b.Error)
		case b.Skipped != "":
			t.Logf("baseline %s skipped: %s", b.Name, b.Skipped)
		case !(b.Value > 0) || !(b.Ratio > 0):
			t.Errorf("baseline %s: value %v, ratio %v", b.Name, b.Value, b.Ratio)
		}
	}
	t.Logf("%s %s; baselines %+v; metrics %+v; notes %q", bench.FormatValue(r.Value), r.Unit, r.Baselines, r.Metrics, r.Notes)
}

// countDriver is a Driver that runs a loop n times.
type countDriver struct {
	n, i int
	t0   time.Time
	d    time.Duration
}

func (c *countDriver) Loop() bool {
	if c.i == 0 {
		c.t0 = time.Now()
	}
	if c.i == c.n {
		c.d = time.Since(c.t0)
		return false
	}
	c.i++
	return true
}

func (c *countDriver) Elapsed() time.Duration { return c.d }

// TestDriver runs a case under a Driver, as go test's b.Loop drives it.
func TestDriver(t *testing.T) {
	c, ok := bench.Lookup("locks/Mutex contended")
	if !ok {
		t.Fatal("no case")
	}
	d := &countDriver{n: 1000}
	r, err := c.Run(context.Background(), &bench.Options{Driver: d, Budget: 5 * time.Millisecond, NoC: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.i != d.n {
		t.Fatalf("driver ran %d of %d iterations", d.i, d.n)
	}
	checkResult(t, c, r)
	for _, b := range r.Baselines {
		if b.Skipped == "" {
			t.Errorf("baseline %s ran with NoC", b.Name)
		}
	}
}

func TestSelect(t *testing.T) {
	all, err := bench.Select("")
	if err != nil || len(all) != len(bench.Cases()) {
		t.Fatalf("Select(\"\"): %d cases, %v", len(all), err)
	}
	ring, err := bench.Select("^ring/")
	if err != nil || len(ring) != 5 {
		t.Fatalf("Select(^ring/): %d cases, %v", len(ring), err)
	}
	if _, err := bench.Select("("); err == nil {
		t.Fatal("Select of a bad pattern succeeded")
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1234.5: "1234", 12.345: "12.3", 1.2345: "1.23", 0.01234: "0.0123", 0.5: "0.5", 1e-5: "1e-05"} {
		if got := bench.FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFormatFigure(t *testing.T) {
	for _, tc := range []struct {
		v          float64
		unit, want string
	}{
		{37.4, "ns/op", "37.4 ns/op"},
		{17683, "p50-ns", "17.7 p50-µs"},
		{2.5e6, "ns", "2.50 ms"},
		{184, "us/op", "184 µs/op"},
		{3612, "p50-us", "3.61 p50-ms"},
		{27.7, "p50-ms", "27.7 p50-ms"},
		{12.5, "M-msgs/s", "12.5 M-msgs/s"},
		{55.2, "%", "55.2%"},
	} {
		if got := bench.FormatFigure(tc.v, tc.unit); got != tc.want {
			t.Errorf("FormatFigure(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}
