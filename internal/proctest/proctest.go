// Package proctest is shmkit's cross-process test harness.
//
// A package's TestMain calls Main. The test binary then plays two parts: run
// normally it executes the tests; re-executed by Start with a role marker in
// its environment, it runs that role's function instead and exits with its
// status. Tests thus spawn real processes that share memory with the parent
// without building a second binary.
//
// After the tests, Main checks for leaks and fails the binary when a test
// left behind a shared-memory segment created under the run's name prefix
// (see Name), a child process, or an open descriptor of a shared-memory file.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	roleEnv   = "SHMKIT_TEST_ROLE"
	prefixEnv = "SHMKIT_TEST_PREFIX"
)

// ShmDir is where POSIX shared-memory segments live.
const ShmDir = "/dev/shm"

var (
	prefix  string // segment-name prefix of this test run, shared with children
	counter atomic.Uint64
)

func init() {
	prefix = os.Getenv(prefixEnv)
	if prefix == "" {
		prefix = fmt.Sprintf("shmkit-test-%d-", os.Getpid())
	}
}

// Role is the body of a child process: it returns the exit status.
type Role func() int

// IsChild reports whether this process was started by Start.
func IsChild() bool { return os.Getenv(roleEnv) != "" }

// Main dispatches a re-executed child to its role, or runs the tests and
// then the leak checks. It does not return.
func Main(m *testing.M, roles map[string]Role) {
	if name := os.Getenv(roleEnv); name != "" {
		fn, ok := roles[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "proctest: unknown role %q\n", name)
			os.Exit(3)
		}
		os.Exit(fn())
	}
	code := m.Run()
	if leaks := Leaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "proctest: leak check failed:\n\t%s\n", strings.Join(leaks, "\n\t"))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Prefix is the segment-name prefix of this test run. Children share it.
func Prefix() string { return prefix }

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Name returns a fresh segment name under the run's prefix, derived from the
// test's name so that a leak report says which test leaked.
func Name(t testing.TB) string {
	n := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(n) > 80 {
		n = n[:80]
	}
	return fmt.Sprintf("%s%s-%d", prefix, n, counter.Add(1))
}

// Args returns the arguments a child was started with (those after "--").
func Args() []string {
	for i, a := range os.Args {
		if a == "--" {
			return os.Args[i+1:]
		}
	}
	return nil
}

// Options tune Start. The zero value starts the child with no extra
// descriptors and its output captured into the test log.
type Options struct {
	// Files become the child's descriptors 3, 4, ... (exec.Cmd.ExtraFiles).
	Files []*os.File
	// Env adds KEY=VALUE entries to the child's environment.
	Env []string
	// SysProcAttr, if not nil, is the child's exec.Cmd.SysProcAttr (for
	// example new namespaces).
	SysProcAttr *syscall.SysProcAttr
}

// Child is a running child process.
type Child struct {
	Cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// Start re-executes the test binary as role with args. The child is killed
// and reaped when the test ends if it is still running, so a failing test
// leaves no process behind.
func Start(t testing.TB, role string, args []string, opts *Options) *Child {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, prefixEnv+"="+prefix)
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.ExtraFiles = opts.Files
	cmd.SysProcAttr = opts.SysProcAttr
	c := &Child{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{w: &c.out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", role, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() || testing.Verbose() {
			if out := c.Output(); out != "" {
				t.Logf("child %s (pid %d) output:\n%s", role, cmd.Process.Pid, out)
			}
		}
	})
	return c
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Done is closed when the child has exited and been reaped.
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits for the child to exit and returns its error (nil on status 0).
// It fails the test if the child has not exited within timeout: a hang is a
// bug, and the harness must not hang with it.
func (c *Child) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		_ = c.Cmd.Process.Kill()
		<-c.done
		t.Fatalf("proctest: child pid %d still running after %v; killed. Output:\n%s", c.Pid(), timeout, c.Output())
		return nil
	}
}

// MustSucceed waits like Wait and fails the test unless the child exited 0.
func (c *Child) MustSucceed(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := c.Wait(t, timeout); err != nil {
		t.Fatalf("proctest: child pid %d: %v. Output:\n%s", c.Pid(), err, c.Output())
	}
}

// Kill sends SIGKILL and reaps the child.
func (c *Child) Kill() {
	_ = c.Cmd.Process.Kill()
	<-c.done
}

// Output is what the child wrote to stdout and stderr so far.
func (c *Child) Output() string {
	lw := c.Cmd.Stdout.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return c.out.String()
}

// Leaks lists segments left under the run's prefix, live or unreaped child
// processes, and open descriptors of shared-memory files.
func Leaks() []string {
	var leaks []string
	if ents, err := os.ReadDir(ShmDir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				leaks = append(leaks, "segment "+filepath.Join(ShmDir, e.Name()))
				_ = os.Remove(filepath.Join(ShmDir, e.Name()))
			}
		}
	}
	for _, pid := range Children() {
		leaks = append(leaks, fmt.Sprintf("child process %d (%s)", pid, procComm(pid)))
	}
	for _, fd := range ShmFds() {
		leaks = append(leaks, "descriptor "+fd)
	}
	return leaks
}

// Children lists the pids of this process's children, reaped or not.
func Children() []int {
	var pids []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// ShmFds lists this process's open descriptors of POSIX shared-memory
// segments and memfds as "fd -> target".
func ShmFds() []string {
	var out []string
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if strings.HasPrefix(target, ShmDir+"/") || strings.HasPrefix(target, "/memfd:") {
			out = append(out, e.Name()+" -> "+target)
		}
	}
	return out
}

// Timeout bounds what a test waits for from a child (WaitFor, and the
// packages' Child.Wait calls): long enough for a loaded 2-CPU machine, short
// enough that a hang fails the test rather than the whole binary.
const Timeout = 2 * time.Minute

// WaitFor polls cond every millisecond until it holds, and fails t if it
// does not within Timeout. It measures nothing.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Fail ends a child that cannot go on: it writes the message to standard
// error, which the parent's test log shows, and exits with status 2.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	os.Exit(2)
}

// ArgInt is a child's argument i (see Args) as an int; a child whose
// argument is not one Fails.
func ArgInt(i int) int {
	a := Args()
	if i >= len(a) {
		Fail("no argument %d (have %q)", i, a)
	}
	n, err := strconv.Atoi(a[i])
	if err != nil {
		Fail("argument %d: %v", i, err)
	}
	return n
}
