package fork

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The ForkServer method's helper: a set of idle workers, already executed
// and waiting on their sockets for a task, so that a start is one message.
// It starts on first use and refills in the background after each start.
var server = &forkServer{target: 2}

type forkServer struct {
	mu       sync.Mutex
	idle     []*workerProc
	target   int // idle workers to keep ready
	stopped  bool
	starting sync.WaitGroup
	pending  int
}

// SetIdleWorkers sets how many idle workers the ForkServer method keeps
// ready (default 2) and starts them. Zero stops keeping any.
func SetIdleWorkers(n int) {
	server.mu.Lock()
	server.target = max(n, 0)
	server.mu.Unlock()
	server.refill()
}

// WarmUp makes the ForkServer method keep at least n idle workers and
// waits until n are ready, or returns ctx.Err().
func WarmUp(ctx context.Context, n int) error {
	server.mu.Lock()
	server.target = max(server.target, n)
	server.mu.Unlock()
	server.refill()
	for {
		server.mu.Lock()
		ready := len(server.idle)
		server.mu.Unlock()
		if ready >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// take returns an idle worker, or starts one when none is ready.
func (s *forkServer) take() (*workerProc, error) {
	s.mu.Lock()
	s.stopped = false
	var w *workerProc
	for len(s.idle) > 0 && w == nil {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		select {
		case <-c.done: // died while idle; drop it
			c.conn.Close()
		default:
			w = c
		}
	}
	s.mu.Unlock()
	// The caller refills (refillSoon) once the task is handed over: an exec
	// started now would compete with the hand-off for the CPUs.
	if w != nil {
		return w, nil
	}
	return startWorker(false)
}

// refillSoon replaces taken workers after a short pause, so the exec of a
// replacement does not slow the task just handed over.
func (s *forkServer) refillSoon() {
	time.AfterFunc(2*time.Millisecond, s.refill)
}

// refill starts workers in the background up to the target.
func (s *forkServer) refill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = false
	for n := s.target - len(s.idle) - s.pending; n > 0; n-- {
		s.pending++
		s.starting.Add(1)
		go func() {
			defer s.starting.Done()
			w, err := startWorker(true)
			if err == nil {
				err = w.awaitReady()
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			s.pending--
			if err != nil {
				return
			}
			if s.stopped {
				w.conn.Close() // the worker reads EOF and exits
				go func() { <-w.done }()
				return
			}
			s.idle = append(s.idle, w)
		}()
	}
}

// awaitReady reads the worker's ready frame: only then is it warm. A worker
// that fails to say so is stopped.
func (w *workerProc) awaitReady() error {
	typ, _, fds, err := readFrame(w.conn)
	closeAll(fds)
	if err == nil && typ != frameReady {
		err = fmt.Errorf("%w: type %d from a starting worker", errFrame, typ)
	}
	if err != nil {
		_ = w.cmd.Process.Kill()
		<-w.done
		w.conn.Close()
	}
	return err
}

// stop ends the idle workers and waits for them to exit.
func (s *forkServer) stop() {
	s.mu.Lock()
	s.stopped = true
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	s.starting.Wait()
	s.mu.Lock()
	idle = append(idle, s.idle...)
	s.idle = nil
	s.mu.Unlock()
	for _, w := range idle {
		w.conn.Close()
		<-w.done
	}
}
