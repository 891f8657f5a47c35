package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/shmkit/shmkit/fork"
	"golang.org/x/sys/unix"
)

// Peers. A case's second process is started with package fork (Spawn:
// this binary re-executed, entering fork.Main), running one of the tasks
// registered at package level in the case's file. Baselines that need a
// plain process holding a pipe or a socket (fork hands a child shared
// segments, not arbitrary descriptors) re-execute this binary with a role
// in the environment; init runs the role and exits before main.

// peerOpts starts every peer the same way, whatever the program's default
// start method.
var peerOpts = &fork.Options{Method: fork.Spawn, Name: "bench-peer"}

// peerTimeout bounds the wait for a peer to end once told to.
const peerTimeout = time.Minute

// peer is a case's second process.
type peer struct {
	p *fork.Process
	// ctx ends when the case's context does or the peer ends: blocking
	// calls of the measurement take it, so that a peer's failure stops
	// them rather than leaving them waiting for the case's timeout.
	ctx    context.Context
	cancel context.CancelFunc
}

// startPeer starts task(arg) in a peer process.
func startPeer[A, R any](ctx context.Context, task *fork.Task[A, R], arg A) (*peer, error) {
	p, err := fork.Start(ctx, task, arg, peerOpts)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-p.Done():
			cancel()
		case <-pctx.Done():
		}
	}()
	return &peer{p: p, ctx: pctx, cancel: cancel}, nil
}

// close ends the peer if it still runs (a case that failed) and reaps it.
func (pe *peer) close() {
	pe.cancel()
	kill(pe.p)
}

// fail explains a measurement's error by the peer's, if it has ended.
func (pe *peer) fail(err error) error {
	select {
	case <-pe.p.Done():
		return fmt.Errorf("%w (the peer ended: %v)", err, pe.p.Join(context.Background()))
	default:
		return err
	}
}

// waitReady polls ready until it reports true, failing if the peer ends
// first or ctx does.
func waitReady(ctx context.Context, p *fork.Process, ready func() bool) error {
	for !ready() {
		select {
		case <-p.Done():
			return fmt.Errorf("peer ended before it was ready: %v", p.Join(ctx))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Microsecond):
		}
	}
	return nil
}

// finish waits for a peer told to stop, and kills it if it does not end
// within peerTimeout. It returns the task's result.
func finish[A, R any](ctx context.Context, t *fork.Task[A, R], p *fork.Process) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	r, err := t.Result(ctx, p)
	if ctx.Err() != nil {
		_ = p.Kill()
		<-p.Done()
		return r, fmt.Errorf("peer did not end: %w", ctx.Err())
	}
	return r, err
}

// kill ends a peer that a failing case leaves behind.
func kill(p *fork.Process) {
	if p.Alive() {
		_ = p.Kill()
	}
	<-p.Done()
}

// execRoleEnv names the role of a re-executed baseline peer.
const execRoleEnv = "SHMKIT_BENCH_EXEC_ROLE"

func init() {
	if role := os.Getenv(execRoleEnv); role != "" {
		os.Exit(runExecRole(role))
	}
}

// Exec roles. Descriptors 3 and up are the peer's ends (exec.Cmd
// ExtraFiles), in blocking mode: read(2) sleeps in the kernel as a futex
// waiter does.
const (
	roleExit  = "exit"  // exit at once: the cost of starting this binary
	roleEcho  = "echo"  // read fd 3, write what was read to fd 4, until EOF
	roleDrain = "drain" // read fd 3 until EOF, every byte; print bytes= and xor=
	roleSeq   = "seq"   // read 8-byte integers 0, 1, 2, ... from fd 3; print items= bad=
)

func runExecRole(role string) int {
	var err error
	switch role {
	case roleExit:
		return 0
	case roleEcho:
		err = echoFd(3, 4)
	case roleDrain:
		err = drainFd(3)
	case roleSeq:
		err = seqFd(3)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench peer %s: %v\n", role, err)
		return 1
	}
	return 0
}

// read is read(2), retried on EINTR; 0 bytes and no error is EOF.
func read(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

func writeAll(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func echoFd(in, out int) error {
	buf := make([]byte, 64)
	for {
		n, err := read(in, buf)
		if err != nil || n == 0 {
			return err
		}
		if err := writeAll(out, buf[:n]); err != nil {
			return err
		}
	}
}

func drainFd(fd int) error {
	buf := make([]byte, 256<<10)
	var total int64
	var x uint64
	for {
		n, err := read(fd, buf)
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Printf("bytes=%d xor=%d\n", total, x)
			return nil
		}
		total += int64(n)
		x ^= xorWords(buf[:n])
	}
}

func seqFd(fd int) error {
	buf := make([]byte, 64<<10)
	var have int // bytes of a partial item at the start of buf
	var next, bad uint64
	for {
		n, err := read(fd, buf[have:])
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Printf("items=%d bad=%d\n", next, bad)
			return nil
		}
		have += n
		i := 0
		for ; i+8 <= have; i += 8 {
			if binary.NativeEndian.Uint64(buf[i:]) != next {
				bad++
			}
			next++
		}
		have = copy(buf, buf[i:have])
	}
}

// xorWords reads every byte of m, eight at a time.
func xorWords(m []byte) uint64 {
	var x uint64
	for len(m) >= 8 {
		x ^= binary.NativeEndian.Uint64(m)
		m = m[8:]
	}
	for _, c := range m {
		x ^= uint64(c)
	}
	return x
}

// execPeer is a running exec role.
type execPeer struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	errb bytes.Buffer
}

// startExec re-executes this binary in role with files as descriptors 3,
// 4, ...; the caller closes its copies of them.
func startExec(role string, files ...*os.File) (*execPeer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &execPeer{cmd: exec.Command(exe)}
	p.cmd.Args = []string{os.Args[0]}
	p.cmd.Env = append(os.Environ(), execRoleEnv+"="+role)
	p.cmd.ExtraFiles = files
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// wait reaps the peer, killing it after peerTimeout, and returns the
// key=value integers it printed.
func (p *execPeer) wait() (map[string]int64, error) {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(peerTimeout):
		_ = p.cmd.Process.Kill()
		<-done
		err = errors.New("killed after " + peerTimeout.String())
	}
	if err != nil {
		return nil, fmt.Errorf("peer %s: %v: %s", p.cmd.Env[len(p.cmd.Env)-1], err, p.errb.Bytes())
	}
	kv := map[string]int64{}
	for _, f := range bytes.Fields(p.out.Bytes()) {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		if x, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			kv[string(k)] = x
		}
	}
	return kv, nil
}

// blockingFd returns f's descriptor in blocking mode (os.File.Fd sets
// it), so that reads sleep in the kernel rather than in Go's poller.
func blockingFd(f *os.File) int { return int(f.Fd()) }
