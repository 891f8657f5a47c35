package bench

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shmkit/shmkit/internal/baseline"
)

// The C and Python baselines are internal/baseline's CSource and PySource,
// each with a mode per case, run afresh for every measurement (each run of
// the suite measures its own baselines) with the case's budget in
// milliseconds. Nothing is pinned, as on the Go side. They print key=value
// figures.

// cFigure runs the C baseline in mode with args and returns key from its
// output, times scale.
func (o *Options) cFigure(ctx context.Context, key string, scale float64, mode string, args ...string) (float64, error) {
	r, err := o.runC(ctx, mode, args...)
	return figure(r, err, key, scale)
}

// pyFigure runs the Python baseline in mode and returns key from its
// output, times scale.
func (o *Options) pyFigure(ctx context.Context, key string, scale float64, mode string) (float64, error) {
	r, err := o.runPython(ctx, mode)
	return figure(r, err, key, scale)
}

// runC runs baseline.CSource (compiled once with gcc, cached by
// internal/baseline) in mode with args and the budget.
func (o *Options) runC(ctx context.Context, mode string, args ...string) (baseline.Result, error) {
	if o != nil && o.NoC {
		return nil, errSkipped
	}
	return baseline.RunC(ctx, baseline.CSource, append(append([]string{mode}, args...), o.budgetMs())...)
}

// runPython runs baseline.PySource with python3, as a file, in mode with
// the budget.
func (o *Options) runPython(ctx context.Context, mode string) (baseline.Result, error) {
	if o != nil && o.NoPython {
		return nil, errSkipped
	}
	return baseline.RunPython(ctx, baseline.PySource, mode, o.budgetMs())
}

func (o *Options) budgetMs() string {
	return strconv.FormatInt(max(o.budget().Milliseconds(), 1), 10)
}

// figure returns key from a baseline's output, scaled.
func figure(r baseline.Result, err error, key string, scale float64) (float64, error) {
	if err != nil {
		return 0, err
	}
	v, ok := r[key]
	if !ok {
		return 0, fmt.Errorf("baseline printed no %s", key)
	}
	return v * scale, nil
}
