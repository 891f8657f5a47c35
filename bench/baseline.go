package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/shmkit/shmkit/internal/baseline"
)

// The C and Python baselines: one C program and one Python script, each
// with a mode per case, run afresh for every measurement (each run of the
// suite measures its own baselines) with the case's budget in
// milliseconds. They print key=value lines.

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

// runC runs cSource (compiled once with gcc, cached by internal/baseline)
// in mode with args and the budget.
func (o *Options) runC(ctx context.Context, mode string, args ...string) (baseline.Result, error) {
	if o != nil && o.NoC {
		return nil, errSkipped
	}
	bin, err := baseline.Build(cSource)
	if err != nil {
		return nil, err
	}
	return runProgram(ctx, bin, append(append([]string{mode}, args...), o.budgetMs())...)
}

// runPython runs pySource with python3 in mode with the budget.
func (o *Options) runPython(ctx context.Context, mode string) (baseline.Result, error) {
	if o != nil && o.NoPython {
		return nil, errSkipped
	}
	py, err := pythonScript()
	if err != nil {
		return nil, err
	}
	return runProgram(ctx, py.interp, py.script, mode, o.budgetMs())
}

func (o *Options) budgetMs() string {
	return strconv.FormatInt(max(o.budget().Milliseconds(), 1), 10)
}

func runProgram(ctx context.Context, name string, args ...string) (baseline.Result, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return baseline.Parse(out), nil
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

// pythonScript finds the Python interpreter (the real one, not a pyenv
// shim that adds a shell and a tenth of a second to every start) and
// writes pySource to a file: multiprocessing's spawn and forkserver
// methods re-import the main module by path, so `python3 -c` cannot
// start their children.
var pythonScript = sync.OnceValues(func() (python, error) {
	var py python
	var err error
	py.interp, err = exec.LookPath("python3")
	if err != nil {
		return py, fmt.Errorf("%w: python3: %v", baseline.ErrUnavailable, err)
	}
	out, err := exec.Command(py.interp, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return py, fmt.Errorf("%w: python3 does not run: %v", baseline.ErrUnavailable, err)
	}
	if real := strings.TrimSpace(string(out)); real != "" {
		py.interp = real
	}
	sum := sha256.Sum256([]byte(pySource))
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "shmkit-baseline")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return py, err
	}
	py.script = filepath.Join(dir, "bench_"+hex.EncodeToString(sum[:8])+".py")
	if _, err := os.Stat(py.script); err == nil {
		return py, nil
	}
	tmp := fmt.Sprintf("%s.%d.tmp", py.script, os.Getpid())
	if err := os.WriteFile(tmp, []byte(pySource), 0o644); err != nil {
		return py, err
	}
	return py, os.Rename(tmp, py.script)
})

// python is the interpreter and the script file.
type python struct{ interp, script string }
