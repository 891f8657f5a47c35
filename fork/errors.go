package fork

import (
	"errors"
	"fmt"
)

// Errors returned by this package, matched with errors.Is.
var (
	// ErrUnknownTask: the worker has no task of that name registered (the
	// task was registered after Main ran, or by a different binary).
	ErrUnknownTask = errors.New("fork: unknown task")
	// ErrWorkerDied: the process ended without reporting a result (killed,
	// crashed, or os.Exit in the task).
	ErrWorkerDied = errors.New("fork: worker died without a result")
	// ErrNotStarted: the process has not been started.
	ErrNotStarted = errors.New("fork: process not started")
	// ErrMethod: the start method is not one of StartMethods.
	ErrMethod = errors.New("fork: unknown start method")
	// ErrPoolClosed: the pool no longer accepts tasks.
	ErrPoolClosed = errors.New("fork: pool closed")
)

// RemoteError is a task's failure in another process: the error it
// returned or the panic it raised, with the worker's stack.
type RemoteError struct {
	Task    string // the task's registered name
	Pid     int    // the worker's process id
	Message string // err.Error(), or the panic value
	Panic   bool   // the task panicked
	Stack   string // the worker goroutine's stack where the panic was recovered; "" for a returned error (Go errors carry no stack)
}

func (e *RemoteError) Error() string {
	what := "failed"
	if e.Panic {
		what = "panicked"
	}
	return fmt.Sprintf("fork: task %q %s in process %d: %s", e.Task, what, e.Pid, e.Message)
}
