package bench

import (
	"slices"
	"time"
)

// loopFunc runs op repeatedly and returns how many times it ran and how
// long that took. It stops at op's first error.
type loopFunc func(op func() error) (n int, d time.Duration, err error)

// budgetLoop returns a loopFunc that runs for about budget. It reads the
// clock once per batch, and grows the batch so that a batch takes about a
// thirty-second of the budget: a loop of 10 ns operations is not a loop
// of clock reads.
func budgetLoop(budget time.Duration) loopFunc {
	return func(op func() error) (int, time.Duration, error) {
		n, batch := 0, 1
		t0 := time.Now()
		for {
			for range batch {
				if err := op(); err != nil {
					return n, time.Since(t0), err
				}
			}
			n += batch
			d := time.Since(t0)
			if d >= budget {
				return n, d, nil
			}
			per := d / time.Duration(n)
			next := 2 * batch
			if per > 0 {
				next = min(next, max(1, int(budget/32/per)))
			}
			batch = next
		}
	}
}

// driverLoop returns a loopFunc driven by d (go test's b.Loop).
func driverLoop(d Driver) loopFunc {
	return func(op func() error) (int, time.Duration, error) {
		n := 0
		for d.Loop() {
			if err := op(); err != nil {
				return n, 0, err
			}
			n++
		}
		return n, d.Elapsed(), nil
	}
}

// median runs measure Reps times, each with a loop of Budget/Reps, and
// returns the median figure: the measurement shmkit's figure comes from.
// Under a Driver it runs measure once, with the Driver's loop.
func (o *Options) median(measure func(loop loopFunc) (float64, error)) (float64, error) {
	if d := o.driver(); d != nil {
		return measure(driverLoop(d))
	}
	reps := o.reps()
	return medianOf(reps, func() (float64, error) { return measure(budgetLoop(o.budget() / time.Duration(reps))) })
}

// baselineMedian is median for a baseline measured in Go: it never uses
// the Driver, which times shmkit's loop only.
func (o *Options) baselineMedian(measure func(loop loopFunc) (float64, error)) (float64, error) {
	reps := o.reps()
	return medianOf(reps, func() (float64, error) { return measure(budgetLoop(o.budget() / time.Duration(reps))) })
}

// loop is shmkit's single timed loop (latency cases): the Driver's, or
// one of the whole Budget.
func (o *Options) loop() loopFunc {
	if d := o.driver(); d != nil {
		return driverLoop(d)
	}
	return budgetLoop(o.budget())
}

func medianOf(reps int, f func() (float64, error)) (float64, error) {
	vs := make([]float64, 0, reps)
	for range reps {
		v, err := f()
		if err != nil {
			return 0, err
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs[len(vs)/2], nil
}

// perSecond is n events in d, in millions per second.
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e6
}

// nsPer is d per operation in nanoseconds.
func nsPer(n int, d time.Duration) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / float64(n)
}

// samples keeps the latest 2^20 durations of a loop (all of a one-second
// loop of microsecond round trips) in a preallocated ring, so that
// recording one costs a store.
type samples struct {
	ns []int64
	n  int
}

func newSamples() *samples { return &samples{ns: make([]int64, 1<<20)} }

func (s *samples) add(d time.Duration) {
	s.ns[s.n&(len(s.ns)-1)] = int64(d)
	s.n++
}

// percentile returns the p'th percentile (0-100) of the kept samples in
// nanoseconds. It sorts them.
func (s *samples) percentile(p int) float64 {
	kept := s.ns[:min(s.n, len(s.ns))]
	if len(kept) == 0 {
		return 0
	}
	if !slices.IsSorted(kept) {
		slices.Sort(kept)
	}
	return float64(kept[min(len(kept)*p/100, len(kept)-1)])
}

// timedSamples runs op in loop, recording the time between consecutive
// returns of op (one round trip each), after warm warm-up calls.
func timedSamples(loop loopFunc, warm int, op func() error) (*samples, error) {
	for range warm {
		if err := op(); err != nil {
			return nil, err
		}
	}
	s := newSamples()
	t := time.Now()
	_, _, err := loop(func() error {
		if err := op(); err != nil {
			return err
		}
		now := time.Now()
		s.add(now.Sub(t))
		t = now
		return nil
	})
	return s, err
}
