package fork

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"

	"github.com/shmkit/shmkit/shm"
)

// workerEnv marks a worker process: its value is the socket's descriptor.
const workerEnv = "SHMKIT_FORK_WORKER"

// idleEnv marks a worker that will wait idle for its request (a ForkServer
// spare): it warms every task's codecs first (see warmUp).
const idleEnv = "SHMKIT_FORK_IDLE"

// workerFd is the socket's descriptor in a worker.
const workerFd = 3

var current = ProcessInfo{Name: "MainProcess", Pid: os.Getpid(), ParentPid: os.Getppid()}

// ProcessInfo describes a process.
type ProcessInfo struct {
	Name      string
	Pid       int
	ParentPid int
	Method    Method // how the process was started (Spawn for the main process)
	Worker    bool   // started by this package
}

// CurrentProcess describes the calling process.
func CurrentProcess() ProcessInfo { return current }

// Main must be the first statement of main() (and of TestMain). In a worker
// process started by this package it runs the requested task and exits; in
// any other process it returns at once.
func Main() {
	if os.Getenv(workerEnv) == "" {
		return
	}
	os.Exit(worker())
}

// Exit statuses of a worker.
const (
	exitOK        = 0
	exitTaskError = 1 // the task returned an error or panicked (Python: 1)
	exitProtocol  = 3 // the parent's request was unusable
	exitOrphaned  = 4 // the parent went away
)

func worker() int {
	idle := os.Getenv(idleEnv) != ""
	os.Unsetenv(workerEnv) // tasks that start processes start plain ones
	os.Unsetenv(idleEnv)
	conn, err := connFromFd(workerFd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fork: worker:", err)
		return exitProtocol
	}
	if idle {
		warmUp()
	}
	if err := writeFrame(conn, frameReady, nil, nil); err != nil {
		return exitOrphaned
	}
	typ, payload, fds, err := readFrame(conn)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return exitOrphaned // an idle worker whose parent left
		}
		fmt.Fprintln(os.Stderr, "fork: worker: reading request:", err)
		return exitProtocol
	}
	var req request
	if typ != frameRequest {
		err = fmt.Errorf("%w: expected a request, got type %d", errFrame, typ)
	} else {
		err = decodeFrame(payload, &req)
	}
	if err == nil && len(req.Segments) != len(fds) {
		err = fmt.Errorf("%w: %d segments described, %d descriptors", errFrame, len(req.Segments), len(fds))
	}
	if err != nil {
		closeAll(fds)
		fmt.Fprintln(os.Stderr, "fork: worker:", err)
		return exitProtocol
	}
	for i, s := range req.Segments {
		shm.Adopt(s.PID, s.ID, fds[i])
	}
	current = ProcessInfo{Name: req.Name, Pid: os.Getpid(), ParentPid: req.ParentPid, Method: req.Method, Worker: true}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	var wmu sync.Mutex
	go watchParent(conn, &wmu, cancel, &once)

	res := runTask(ctx, req)
	wmu.Lock()
	err = writeFrame(conn, frameResult, &res, nil)
	wmu.Unlock()
	if err != nil {
		return exitOrphaned
	}
	_ = conn.CloseWrite()
	if res.Err != nil {
		return exitTaskError
	}
	return exitOK
}

// warmUp runs the wire encoding and every registered task's codecs once
// before an idle worker says it is ready: encoding/gob compiles a type's
// coder on its first use in a process, which costs a millisecond or so —
// on the critical path of a ForkServer start if it were left to the first
// real request. A worker started for a request at once (Spawn, Fork, or a
// ForkServer with no spare ready) skips it: it would only delay the task
// by warming the codecs of every other task.
func warmUp() {
	var b bytes.Buffer
	_ = gob.NewEncoder(&b).Encode(&request{Segments: []inheritedSegment{{}}, Arg: []byte{0}})
	_ = gob.NewDecoder(&b).Decode(&request{})
	b.Reset()
	_ = gob.NewEncoder(&b).Encode(&result{Value: []byte{0}, Err: &RemoteError{Task: "x"}})
	_ = gob.NewDecoder(&b).Decode(&result{})
	warmAll()
}

// watchParent reads the parent's frames for the life of the task: a cancel
// frame cancels the task's context; an adopt frame hands over more
// segments; the end of the stream means the parent is gone, and the worker
// follows it. wmu serializes writes to conn.
func watchParent(conn *net.UnixConn, wmu *sync.Mutex, cancel context.CancelFunc, once *sync.Once) {
	for {
		typ, payload, fds, err := readFrame(conn)
		if err != nil {
			os.Exit(exitOrphaned)
		}
		switch typ {
		case frameCancel:
			once.Do(cancel)
		case frameAdopt:
			var segs []inheritedSegment
			if decodeFrame(payload, &segs) == nil && len(segs) == len(fds) {
				for i, s := range segs {
					shm.Adopt(s.PID, s.ID, fds[i])
				}
				fds = nil // adopted: kept for the life of the process
			}
			wmu.Lock()
			_ = writeFrame(conn, frameAdopted, nil, nil)
			wmu.Unlock()
		}
		closeAll(fds)
	}
}

func runTask(ctx context.Context, req request) (res result) {
	fail := func(msg string, panicked bool, stack string) result {
		return result{Err: &RemoteError{Task: req.Task, Pid: os.Getpid(), Message: msg, Panic: panicked, Stack: stack}}
	}
	e, ok := lookup(req.Task)
	run := e.run
	if !ok {
		return fail(fmt.Sprintf("%v: %q is not registered in this binary", ErrUnknownTask, req.Task), false, "")
	}
	defer func() {
		if p := recover(); p != nil {
			res = fail(fmt.Sprint(p), true, string(debug.Stack()))
		}
	}()
	v, err := run(ctx, req.Arg)
	if err != nil {
		return fail(err.Error(), false, "")
	}
	return result{Value: v}
}
