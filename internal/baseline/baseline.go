// Package baseline runs the reference programs that shmkit's benchmarks
// compare against in the same run: small C programs (compiled with gcc on
// first use) and Python snippets (python3 multiprocessing). Each prints
// "key=value" lines; the caller gets them as numbers.
//
// A benchmark reports its own figure next to the baseline's and their
// ratio, so a reader compares like with like on one machine at one time.
// When gcc or python3 is missing, the functions return an error matching
// ErrUnavailable and the benchmark reports without that baseline.
package baseline

import (
	"bufio"
	"bytes"
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

// Python runs script with python3 and args, once per distinct script and
// args in this process (later calls return the first result).
func Python(script string, args ...string) (Result, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("%w: python3: %v", ErrUnavailable, err)
	}
	return cached("py\x00"+script+"\x00"+strings.Join(args, "\x00"), func() ([]byte, error) {
		cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("baseline: python3: %v: %s", err, stderr.String())
		}
		return out, nil
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
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("baseline: %s: %v: %s", bin, err, stderr.String())
		}
		return out, nil
	})
}

// Build compiles source with gcc and returns the binary's path.
func Build(source string) (string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("%w: gcc: %v", ErrUnavailable, err)
	}
	sum := sha256.Sum256([]byte(source))
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "shmkit-baseline")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, hex.EncodeToString(sum[:8]))
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
