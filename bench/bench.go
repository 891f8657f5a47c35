package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/shmkit/shmkit/internal/baseline"
)

// Options tune a run of the suite. A nil *Options means the zero value.
type Options struct {
	// Budget is how long each measurement runs — shmkit's and each
	// baseline's alike. Zero means one second, or 200 ms when Quick is set.
	Budget time.Duration
	// Quick shortens the default Budget to 200 ms.
	Quick bool
	// Reps is how many parts a cheap measurement's budget is split into;
	// the median of the parts is reported. Zero means 3. Latency cases
	// report percentiles of every sample instead.
	Reps int
	// NoPython and NoC leave the Python and C baselines out (each is
	// then listed with Skipped set).
	NoPython, NoC bool
	// Driver, if not nil, runs shmkit's timed loop in place of the
	// budget, once: go test's *testing.B is a Driver (see bench_test.go).
	// Baselines still run for Budget.
	Driver Driver
}

// Driver runs a timed loop: Loop reports whether to run the body once
// more, and Elapsed is the loop's time once Loop has returned false.
// *testing.B is one.
type Driver interface {
	Loop() bool
	Elapsed() time.Duration
}

// PerMeasurement is the time each measurement runs: Budget with its
// defaults applied.
func (o *Options) PerMeasurement() time.Duration { return o.budget() }

func (o *Options) budget() time.Duration {
	switch {
	case o != nil && o.Budget > 0:
		return o.Budget
	case o != nil && o.Quick:
		return 200 * time.Millisecond
	}
	return time.Second
}

func (o *Options) reps() int {
	if o != nil && o.Reps > 0 {
		return o.Reps
	}
	return 3
}

func (o *Options) driver() Driver {
	if o == nil {
		return nil
	}
	return o.Driver
}

// Result is one case's outcome: shmkit's figure and the baselines
// measured in the same run, in the same unit.
type Result struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"` // no spaces, as benchstat wants: "ns/op", "p50-ns", "M-msgs/s", "GB/s"
	Value float64 `json:"value"`
	// LowerIsBetter is true for times, false for rates.
	LowerIsBetter bool `json:"lowerIsBetter"`
	// Metrics are secondary figures of shmkit's measurement (a 99th
	// percentile, the peer's share of the work).
	Metrics   []Metric   `json:"metrics,omitempty"`
	Baselines []Baseline `json:"baselines"`
	// Target is the figure a claim in the documentation promises, if any.
	Target *Target `json:"target,omitempty"`
	// Notes say what was measured and how, and what was left out.
	Notes []string `json:"notes,omitempty"`
	// Seconds is how long the case took, setup and baselines included.
	Seconds float64 `json:"seconds"`
}

// Baseline is a reference measured in the same run as shmkit's figure.
type Baseline struct {
	Name  string  `json:"name"`
	Value float64 `json:"value,omitempty"` // in the Result's Unit
	// Ratio is how many times better shmkit's figure is than this one:
	// above 1 shmkit wins, below 1 the baseline does. For times it is
	// baseline/shmkit, for rates shmkit/baseline.
	Ratio float64 `json:"ratio,omitempty"`
	// Skipped says why there is no value because a toolchain is missing
	// or the baseline was left out.
	Skipped string `json:"skipped,omitempty"`
	// Error says why the baseline failed.
	Error string `json:"error,omitempty"`
}

// OK reports whether the baseline has a value.
func (b Baseline) OK() bool { return b.Skipped == "" && b.Error == "" && b.Value > 0 }

// Metric is a secondary figure.
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// Target is a documented claim, as a bound on a Result's value.
type Target struct {
	Value float64 `json:"value"` // an upper bound if the Result's LowerIsBetter, else a lower bound
	Claim string  `json:"claim"` // the claim, and where it is made
	Met   bool    `json:"met"`
}

// TargetText is the target as a bound with its unit, like "≤ 100 ns/op",
// or "" when the case has none.
func (r Result) TargetText() string {
	if r.Target == nil {
		return ""
	}
	op := "≥"
	if r.LowerIsBetter {
		op = "≤"
	}
	return op + " " + FormatFigure(r.Target.Value, r.Unit)
}

// Case is one benchmark of the suite.
type Case struct {
	// Name is "package/what", like "ring/SPSC 8B".
	Name string
	// About says what is measured, against what.
	About string
	// Unit and LowerIsBetter describe the Result's figure.
	Unit          string
	LowerIsBetter bool

	target *Target
	run    func(ctx context.Context, o *Options, r *Result) error
}

// caseTimeout bounds a case, so that a hung peer is an error, never a hang.
const caseTimeout = 5 * time.Minute

// Run measures the case, its baselines and their ratios. The peer
// processes it starts (package fork) have ended when it returns.
func (c Case) Run(ctx context.Context, o *Options) (Result, error) {
	r := Result{Name: c.Name, Unit: c.Unit, LowerIsBetter: c.LowerIsBetter, Baselines: []Baseline{}}
	if c.run == nil {
		return r, fmt.Errorf("bench: %q is not a case of the suite (see Cases)", c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	t0 := time.Now()
	err := c.run(ctx, o, &r)
	r.Seconds = time.Since(t0).Seconds()
	if err != nil {
		return r, fmt.Errorf("bench: %s: %w", c.Name, err)
	}
	for i := range r.Baselines {
		b := &r.Baselines[i]
		if b.OK() && r.Value > 0 {
			b.Ratio = b.Value / r.Value
			if !r.LowerIsBetter {
				b.Ratio = r.Value / b.Value
			}
		}
	}
	if c.target != nil {
		t := *c.target
		t.Met = r.Value > 0 && (r.LowerIsBetter && r.Value <= t.Value || !r.LowerIsBetter && r.Value >= t.Value)
		r.Target = &t
	}
	return r, nil
}

// Cases lists the suite in its order.
func Cases() []Case {
	return []Case{
		mutexUncontended,
		mutexContended,
		eventPingPong,
		valueIncrement,
		spscThroughput,
		connPingPong,
		connBandwidth,
		queueThroughput,
		mpmc2x2,
		shmCreateAttach,
		spawnStartJoin,
		forkServerStart,
		poolMap,
	}
}

// Select returns the cases whose names match the regular expression
// pattern (all of them for ""), in the suite's order.
func Select(pattern string) ([]Case, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var cs []Case
	for _, c := range Cases() {
		if re.MatchString(c.Name) {
			cs = append(cs, c)
		}
	}
	return cs, nil
}

// Lookup returns the case named name.
func Lookup(name string) (Case, bool) {
	for _, c := range Cases() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// add records a baseline: its value, or why it has none.
func (r *Result) add(name string, v float64, err error) {
	b := Baseline{Name: name}
	switch {
	case errors.Is(err, baseline.ErrUnavailable), errors.Is(err, errSkipped):
		b.Skipped = err.Error()
	case err != nil:
		b.Error = err.Error()
	case v <= 0 || math.IsNaN(v) || math.IsInf(v, 0):
		b.Error = fmt.Sprintf("no usable figure (%v)", v)
	default:
		b.Value = v
	}
	r.Baselines = append(r.Baselines, b)
}

func (r *Result) metric(name, unit string, v float64) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Unit: unit, Value: v})
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// errSkipped marks a baseline left out by Options.
var errSkipped = errors.New("left out by the options")

// timeUnit finds the time unit in a Unit like "ns/op" or "p50-us".
var timeUnit = regexp.MustCompile(`(^|[-/])(ns|us|ms)([-/]|$)`)

// FormatFigure formats a figure and its unit for reading, scaling times
// of 1000 or more to the next unit: 17683 p50-ns reads "17.7 p50-µs".
func FormatFigure(v float64, unit string) string {
	if m := timeUnit.FindStringSubmatchIndex(unit); m != nil {
		units := []string{"ns", "µs", "ms", "s"}
		i := map[string]int{"ns": 0, "us": 1, "ms": 2}[unit[m[4]:m[5]]]
		for math.Abs(v) >= 1e3 && i < len(units)-1 {
			v /= 1e3
			i++
		}
		unit = unit[:m[4]] + units[i] + unit[m[5]:]
	}
	if unit == "%" {
		return FormatValue(v) + "%"
	}
	return FormatValue(v) + " " + unit
}

// FormatValue formats a figure with three significant digits, without
// exponent for the magnitudes the suite produces.
func FormatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.001:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
	return fmt.Sprintf("%.3g", v)
}
