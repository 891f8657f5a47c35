package fork

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"

	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// StillRunning is what ExitCode returns before the process has ended.
const StillRunning = math.MinInt32

// Options tune Start. A nil *Options means the zero value.
type Options struct {
	// Method is the start method; zero means StartMethod().
	Method Method
	// Name names the process (Process.Name, CurrentProcess().Name in the
	// child). Empty means "Process-N".
	Name string
	// Daemon marks a daemon process: Shutdown terminates it instead of
	// waiting for it. Every child, daemon or not, ends when its parent's
	// process ends (Go runs no exit hooks, so it cannot wait for them).
	Daemon bool
}

func (o *Options) method() Method {
	if o != nil && o.Method != 0 {
		return o.Method
	}
	return StartMethod()
}

// Process is a child process running a task.
type Process struct {
	name   string
	method Method
	task   string
	daemon bool
	w      *workerProc

	cancelOnce sync.Once
	stopCancel func() bool

	collected chan struct{} // closed once res or resErr is set and the process reaped
	res       *result       // the worker's report, nil if none
	resErr    error         // why there is no report
}

// workerProc is a started worker process and the parent's end of its
// socket. done is closed once the process has been reaped.
type workerProc struct {
	cmd   *exec.Cmd
	conn  *net.UnixConn
	wmu   sync.Mutex    // serializes writes to conn
	acks  chan struct{} // frameAdopted acknowledgements, from collect
	done  chan struct{}
	state *os.ProcessState // set before done closes
}

var (
	children   sync.Map // *Process -> struct{}: started, not yet reaped
	processSeq struct {
		sync.Mutex
		n int
	}
)

// startWorker execs the program as a worker with its socket at descriptor
// 3, and reaps it in the background.
func startWorker(idle bool) (*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("fork: finding the program: %w", err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fork: socketpair: %w", err)
	}
	childEnd := os.NewFile(uintptr(pair[1]), "fork-child-socket")
	defer childEnd.Close()
	conn, err := connFromFd(pair[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), workerEnv+"=3")
	if idle {
		cmd.Env = append(cmd.Env, idleEnv+"=1")
	}
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{childEnd}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("fork: starting %s: %w", exe, err)
	}
	w := &workerProc{cmd: cmd, conn: conn, done: make(chan struct{}), acks: make(chan struct{}, 1)}
	go func() {
		_ = cmd.Wait()
		w.state = cmd.ProcessState
		close(w.done)
	}()
	return w, nil
}

// Start starts task(arg) in a new process. ctx is the task's context: when
// it ends, the task's context in the child is cancelled too.
//
// With the Fork method the child inherits every live segment of this
// process by descriptor. With Spawn and ForkServer it inherits the
// anonymous segments its argument refers to (shared objects encode as
// references to their segments) and opens named segments by name, so a
// named segment unlinked meanwhile is gone for it, as for any process.
func Start[A, R any](ctx context.Context, task *Task[A, R], arg A, opts *Options) (*Process, error) {
	m := opts.method()
	if !m.valid() {
		return nil, fmt.Errorf("%w: %v", ErrMethod, m)
	}
	var payload []byte
	refs, err := shm.TrackRefs(func() (err error) {
		payload, err = task.arg.Append(nil, arg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fork: task %q: encoding argument: %w", task.name, err)
	}
	p := &Process{method: m, task: task.name, collected: make(chan struct{})}
	if opts != nil {
		p.name, p.daemon = opts.Name, opts.Daemon
	}
	if p.name == "" {
		processSeq.Lock()
		processSeq.n++
		p.name = fmt.Sprintf("Process-%d", processSeq.n)
		processSeq.Unlock()
	}
	req := request{Task: task.name, Name: p.name, Method: m, ParentPid: os.Getpid(), Arg: payload}

	var w *workerProc
	if m == ForkServer {
		w, err = server.take()
	} else {
		w, err = startWorker(false)
	}
	if err != nil {
		return nil, err
	}
	p.w = w
	send := func(segs []shm.LiveSegment) error {
		fds := make([]int, 0, len(segs))
		for _, s := range segs {
			req.Segments = append(req.Segments, inheritedSegment{PID: s.Ref.PID, ID: s.Ref.ID, Name: s.Ref.Name, Size: s.Ref.Size})
			fds = append(fds, s.Fd)
		}
		w.wmu.Lock()
		defer w.wmu.Unlock()
		return writeFrame(w.conn, frameRequest, &req, fds)
	}
	err = shm.WithLive(func(segs []shm.LiveSegment) error {
		if m != Fork {
			// Spawn and ForkServer children get what the argument refers
			// to: named segments they reopen by name, anonymous ones by
			// descriptor.
			var used []shm.LiveSegment
			for _, s := range segs {
				if s.Ref.Name == "" && slices.Contains(refs, s.Ref) {
					used = append(used, s)
				}
			}
			segs = used
		}
		return send(segs)
	})
	if err != nil {
		_ = w.cmd.Process.Kill()
		<-w.done
		w.conn.Close()
		return nil, fmt.Errorf("fork: sending task %q: %w", task.name, err)
	}
	if m == ForkServer {
		server.refillSoon()
	}
	children.Store(p, struct{}{})
	if ctx.Done() != nil {
		p.stopCancel = context.AfterFunc(ctx, p.cancelTask)
	}
	go p.collect()
	return p, nil
}

// collect reads the worker's report, then waits for it to exit.
func (p *Process) collect() {
	var typ byte
	var payload []byte
	var err error
	for {
		var fds []int
		typ, payload, fds, err = readFrame(p.w.conn)
		closeAll(fds)
		if err != nil || (typ != frameReady && typ != frameAdopted) {
			break
		}
		if typ == frameAdopted {
			p.w.acks <- struct{}{}
		}
	}
	var res result
	if err == nil && typ != frameResult {
		err = fmt.Errorf("%w: type %d from worker", errFrame, typ)
	}
	if err == nil {
		err = decodeFrame(payload, &res)
	}
	<-p.w.done
	p.w.conn.Close()
	if err == nil {
		p.res = &res
	} else {
		p.resErr = err
	}
	close(p.collected)
	if p.stopCancel != nil {
		p.stopCancel()
	}
	children.Delete(p)
}

func (p *Process) cancelTask() {
	p.cancelOnce.Do(func() {
		p.w.wmu.Lock()
		defer p.w.wmu.Unlock()
		_ = writeFrame(p.w.conn, frameCancel, nil, nil)
	})
}

// pass hands the running worker the anonymous segments among refs, by
// descriptor over its socket, and waits until it has them. A pool worker
// needs this for tasks that refer to segments made after it started.
func (p *Process) pass(ctx context.Context, refs []shm.Ref) error {
	var segs []inheritedSegment
	err := shm.WithLive(func(live []shm.LiveSegment) error {
		var fds []int
		for _, s := range live {
			if s.Ref.Name == "" && slices.Contains(refs, s.Ref) {
				segs = append(segs, inheritedSegment{PID: s.Ref.PID, ID: s.Ref.ID, Size: s.Ref.Size})
				fds = append(fds, s.Fd)
			}
		}
		if len(segs) == 0 {
			return nil
		}
		p.w.wmu.Lock()
		defer p.w.wmu.Unlock()
		return writeFrame(p.w.conn, frameAdopt, &segs, fds)
	})
	if err != nil || len(segs) == 0 {
		return err
	}
	select {
	case <-p.w.acks:
		return nil
	case <-p.collected:
		return fmt.Errorf("%w: %s ended before taking its segments", ErrWorkerDied, p.name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name is the process's name.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.w.cmd.Process.Pid }

// Method is how the process was started.
func (p *Process) Method() Method { return p.method }

// Daemon reports whether the process was started as a daemon.
func (p *Process) Daemon() bool { return p.daemon }

// Done is closed when the process has ended and been reaped: a sentinel for
// select, like Python's Process.sentinel.
func (p *Process) Done() <-chan struct{} { return p.collected }

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.collected:
		return false
	default:
		return true
	}
}

// Join waits for the process to end. It returns nil if the task succeeded,
// a *RemoteError if it returned an error or panicked, an error matching
// ErrWorkerDied if the process ended without reporting (killed, crashed,
// os.Exit), or ctx.Err() if ctx ends first (the process keeps running).
func (p *Process) Join(ctx context.Context) error {
	select {
	case <-p.collected:
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err := p.outcome()
	return err
}

// outcome waits for collect and returns the task's encoded result or why
// there is none.
func (p *Process) outcome() ([]byte, error) {
	<-p.collected
	switch {
	case p.res != nil && p.res.Err != nil:
		return nil, p.res.Err
	case p.res != nil:
		return p.res.Value, nil
	default:
		return nil, fmt.Errorf("%w: %s (pid %d) %s", ErrWorkerDied, p.name, p.Pid(), describeExit(p.w.state))
	}
}

// ExitCode is the process's exit status once it has ended: 0 for success,
// 1 when the task failed, the negative signal number when a signal killed
// it (as in Python), StillRunning before it ends.
func (p *Process) ExitCode() int {
	select {
	case <-p.collected:
	default:
		return StillRunning
	}
	return exitCode(p.w.state)
}

func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return st.ExitCode()
}

func describeExit(st *os.ProcessState) string {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exited with status %d", st.ExitCode())
}

// Terminate sends SIGTERM.
func (p *Process) Terminate() error { return p.signal(syscall.SIGTERM) }

// Kill sends SIGKILL.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL) }

func (p *Process) signal(s syscall.Signal) error {
	if !p.Alive() {
		return nil
	}
	if err := p.w.cmd.Process.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("fork: signal %s to %s: %w", s, p.name, err)
	}
	return nil
}

// Result waits for p, which must run this task, and decodes its result.
func (t *Task[A, R]) Result(ctx context.Context, p *Process) (R, error) {
	var zero R
	if p.task != t.name {
		return zero, fmt.Errorf("fork: process %s runs task %q, not %q", p.name, p.task, t.name)
	}
	if err := p.Join(ctx); err != nil {
		return zero, err
	}
	v, err := p.outcome()
	if err != nil {
		return zero, err
	}
	return t.res.Decode(v)
}

// Run starts task(arg) in a new process and returns its result.
func Run[A, R any](ctx context.Context, task *Task[A, R], arg A, opts *Options) (R, error) {
	p, err := Start(ctx, task, arg, opts)
	if err != nil {
		var zero R
		return zero, err
	}
	return task.Result(ctx, p)
}

// ActiveChildren lists the processes this process started that have not
// yet ended.
func ActiveChildren() []*Process {
	var ps []*Process
	children.Range(func(k, _ any) bool {
		if p := k.(*Process); p.Alive() {
			ps = append(ps, p)
		}
		return true
	})
	return ps
}

// Shutdown ends this process's use of the package, as Python does at exit:
// it terminates daemon children, waits for the others, and stops the
// ForkServer's idle workers. It returns ctx.Err() if ctx ends first.
func Shutdown(ctx context.Context) error {
	server.stop()
	for _, p := range ActiveChildren() {
		if p.daemon {
			_ = p.Terminate()
		}
	}
	for _, p := range ActiveChildren() {
		select {
		case <-p.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// CPUCount is the number of CPUs this process may run on (its affinity
// mask), like Python's os.process_cpu_count.
func CPUCount() int { return runtime.NumCPU() }
