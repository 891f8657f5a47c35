package fork

import (
	"fmt"
	"sync/atomic"
)

// Method is how a process is started. Go cannot fork(2) a running runtime
// (its other threads would vanish in the child, with their locks held), so
// the three are emulations of Python's methods with the same contracts:
//
//   - Spawn re-executes the program (/proc/self/exe), which enters Main and
//     runs the task. The child shares only what is passed to it: named
//     segments are reopened by name.
//   - Fork re-executes the program too, and the child inherits, by
//     descriptor, every segment the parent has mapped — anonymous ones
//     included — so shared objects need no names, as after fork(2).
//   - ForkServer hands the task to an idle worker that was started ahead of
//     time, so a start costs a message, not an exec. Idle workers are
//     replenished in the background. Like Python's forkserver children,
//     they hold none of the caller's later state; segments travel by
//     descriptor with the task.
type Method int

// The start methods. The zero Method means the default (StartMethod).
const (
	Spawn Method = iota + 1
	Fork
	ForkServer
)

func (m Method) String() string {
	switch m {
	case Spawn:
		return "spawn"
	case Fork:
		return "fork"
	case ForkServer:
		return "forkserver"
	case 0:
		return "default"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

func (m Method) valid() bool { return m >= Spawn && m <= ForkServer }

var defaultMethod atomic.Int32 // 0 means Spawn

// SetStartMethod sets the method Start and NewPool use when their options
// do not name one. It returns ErrMethod for an unknown method.
func SetStartMethod(m Method) error {
	if !m.valid() {
		return fmt.Errorf("%w: %v", ErrMethod, m)
	}
	defaultMethod.Store(int32(m))
	if m == ForkServer {
		server.refill()
	}
	return nil
}

// StartMethod is the default start method (Spawn unless set).
func StartMethod() Method {
	if m := Method(defaultMethod.Load()); m != 0 {
		return m
	}
	return Spawn
}

// StartMethods lists the available start methods.
func StartMethods() []Method { return []Method{Spawn, Fork, ForkServer} }
