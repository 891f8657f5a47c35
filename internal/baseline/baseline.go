// Package baseline holds and runs the reference programs that shmkit's
// benchmarks compare against in the same run: small C programs (compiled
// with gcc on first use) and Python snippets (python3 multiprocessing).
// CSource and PySource, a C program and a Python script with a mode per
// measurement, serve both the suite of `shmkit bench` (package bench) and
// the packages' own benchmarks; a package's single-use programs stay with
// it. Each program prints "key=value" fields; the caller gets them as
// numbers.
//
// C and Python run a program once per distinct arguments in a process and
// return that first result from then on; RunC and RunPython run it afresh
// on every call, for a benchmark that measures its baseline each time.
//
// A benchmark reports its own figure next to the baseline's and their
// ratio, so a reader compares like with like on one machine at one time.
// When gcc or python3 is missing, the functions return an error matching
// ErrUnavailable and the benchmark reports without that baseline.
package baseline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrUnavailable: the baseline's toolchain (gcc, python3) is not installed.
var ErrUnavailable = errors.New("baseline: toolchain not available")

// Result is one baseline run's output: key=value pairs, numeric values only.
type Result map[string]float64

var (
	mu    sync.Mutex
	cache = map[string]Result{}
)

// Python runs script with python3 -c and args, once per distinct script
// and args in this process (later calls return the first result).
func Python(script string, args ...string) (Result, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("%w: python3: %v", ErrUnavailable, err)
	}
	return cached("py\x00"+script+"\x00"+strings.Join(args, "\x00"), func() ([]byte, error) {
		what := strings.Join(append([]string{"python3 -c SCRIPT"}, args...), " ")
		return output(context.Background(), what, py, append([]string{"-c", script}, args...)...)
	})
}

// C compiles source with gcc -O2 -pthread (the binary is cached under the
// user's cache directory, keyed by the source) and runs it with args, once
// per distinct source and args in this process.
func C(source string, args ...string) (Result, error) {
	bin, err := Build(source)
	if err != nil {
		return nil, err
	}
	return cached("c\x00"+source+"\x00"+strings.Join(args, "\x00"), func() ([]byte, error) {
		return output(context.Background(), "", bin, args...)
	})
}

// RunC compiles source as C does and runs it with args afresh on every
// call, so that each measurement has its own baseline run; ctx bounds the
// run.
func RunC(ctx context.Context, source string, args ...string) (Result, error) {
	bin, err := Build(source)
	if err != nil {
		return nil, err
	}
	return Run(ctx, bin, args...)
}

// RunPython writes script to a file (Script) and runs it with the real
// python3 and args afresh on every call; ctx bounds the run. A file, not
// python3 -c as in Python: multiprocessing's spawn and forkserver methods
// re-import the main module by path.
func RunPython(ctx context.Context, script string, args ...string) (Result, error) {
	py, file, err := Script(script)
	if err != nil {
		return nil, err
	}
	return Run(ctx, py, append([]string{file}, args...)...)
}

// Run runs the program name with args afresh and returns its key=value
// output (Parse). The error of a failed run quotes its standard error.
func Run(ctx context.Context, name string, args ...string) (Result, error) {
	out, err := output(ctx, "", name, args...)
	if err != nil {
		return nil, err
	}
	return Parse(out), nil
}

// output runs name with args and returns its standard output. The error
// of a failed run names the command (as what, if not empty) and quotes its
// standard error.
func output(ctx context.Context, what, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if what == "" {
			what = strings.Join(append([]string{filepath.Base(name)}, args...), " ")
		}
		return nil, fmt.Errorf("baseline: %s: %v: %s", what, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Build compiles source with gcc and returns the binary's path.
func Build(source string) (string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("%w: gcc: %v", ErrUnavailable, err)
	}
	bin, err := cachePath(source, "")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src := bin + ".c"
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	out, err := exec.Command(gcc, "-O2", "-Wall", "-pthread", "-o", tmp, src, "-lrt").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("baseline: gcc: %v: %s", err, out)
	}
	return bin, os.Rename(tmp, bin)
}

// Script returns the Python interpreter (the real one, not a pyenv shim
// that adds a shell and a tenth of a second to every start) and a file
// holding script, written once under the user's cache directory.
func Script(script string) (interp, file string, err error) {
	interp, err = python()
	if err != nil {
		return "", "", err
	}
	file, err = cachePath(script, ".py")
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(file); err == nil {
		return interp, file, nil
	}
	tmp := fmt.Sprintf("%s.%d.tmp", file, os.Getpid())
	if err := os.WriteFile(tmp, []byte(script), 0o644); err != nil {
		return "", "", err
	}
	return interp, file, os.Rename(tmp, file)
}

// python finds the interpreter python3 runs, once.
var python = sync.OnceValues(func() (string, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("%w: python3: %v", ErrUnavailable, err)
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("%w: python3 does not run: %v", ErrUnavailable, err)
	}
	if real := strings.TrimSpace(string(out)); real != "" {
		py = real
	}
	return py, nil
})

// cachePath is the path, under the user's cache directory (created if
// need be), of the file made from source, with suffix.
func cachePath(source, suffix string) (string, error) {
	sum := sha256.Sum256([]byte(source))
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "shmkit-baseline")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, hex.EncodeToString(sum[:8])+suffix), nil
}

func cached(key string, run func() ([]byte, error)) (Result, error) {
	mu.Lock()
	r, ok := cache[key]
	mu.Unlock()
	if ok {
		return r, nil
	}
	out, err := run()
	if err != nil {
		return nil, err
	}
	r = Parse(out)
	mu.Lock()
	cache[key] = r
	mu.Unlock()
	return r, nil
}

// Parse reads "key=value" fields (space separated, any number per line);
// fields whose value is not a number are skipped.
func Parse(out []byte) Result {
	r := Result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				r[k] = x
			}
		}
	}
	return r
}
