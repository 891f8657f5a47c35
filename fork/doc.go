// Package fork starts Go functions in other processes, as Python's
// multiprocessing.Process and Pool do: a Process launcher with spawn, fork
// and forkserver start methods, and a worker Pool.
//
// # Basics
//
// Call Main first in main (and in TestMain), register tasks at package
// level, and start them:
//
//	var square = fork.Register("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	func main() {
//		fork.Main() // in a worker process: runs the task and exits
//		p, err := fork.Start(ctx, square, 7, nil)
//		...
//		v, err := square.Result(ctx, p) // 49
//	}
//
// A worker is the same binary re-executed: Main sees the marker in its
// environment, reads the task's name and argument from its parent over a
// unix socket, runs the task, reports the result and exits. Arguments and
// results of fixed-size pointer-free types travel raw, others through
// encoding/gob (see package codec). A task's error or panic reaches the
// caller as a *RemoteError with the worker's message and stack; a worker
// that dies without reporting is ErrWorkerDied, never a hang.
//
// # Start methods
//
// Go cannot fork(2) a running program: the runtime is multi-threaded, and a
// forked child would hold only the calling thread, with the others' locks
// taken forever. The three methods are honest emulations of Python's (see
// Method): Spawn re-executes the program; Fork does too, and hands the
// child every live segment of the parent by descriptor, anonymous ones
// included, as fork(2) would share mappings; ForkServer takes an idle
// worker that was started ahead of time, so a start costs a message rather
// than an exec. Nothing else of the parent's memory reaches the child: pass
// what the task needs as its argument, and share memory through segments
// (shm.Ref and the shared objects built on it).
//
// # Lifetimes
//
// A child ends when its parent's process ends, however the parent ends: a
// worker watches its socket and exits when the parent's end closes. This is
// done without PR_SET_PDEATHSIG, whose signal fires when the spawning OS
// thread exits, not the process (golang/go#27505). Go runs no code at exit,
// so Python's "join non-daemon children at exit" is a call: Shutdown.
//
// # Caveats
//
//   - Linux only. Children run the same binary: a task registered only in
//     some builds, or after Main runs, is ErrUnknownTask in the child.
//   - The child's standard output and error are the parent's.
package fork
