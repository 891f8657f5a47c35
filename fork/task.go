package fork

import (
	"context"
	"fmt"
	"sync"

	"github.com/shmkit/shmkit/codec"
)

// Task is a function registered under a name, which a worker process —
// running the same binary — looks up to run it. Register tasks at package
// level, so every process has them before Main runs.
type Task[A, R any] struct {
	name string
	fn   func(context.Context, A) (R, error)
	arg  codec.Of[A]
	res  codec.Of[R]
}

// Name is the task's registered name.
func (t *Task[A, R]) Name() string { return t.name }

// runner is a task with its types erased: encoded argument in, encoded
// result out.
type runner func(ctx context.Context, arg []byte) ([]byte, error)

var registry struct {
	mu    sync.Mutex
	tasks map[string]runner
}

// Register makes fn runnable in worker processes under name and returns the
// handle to start it with. Call it at package level:
//
//	var square = fork.Register("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
// Arguments and results of fixed-size pointer-free types travel raw; other
// types go through encoding/gob (use RegisterCodec to choose another
// codec). Register panics if name is empty or already taken.
func Register[A, R any](name string, fn func(ctx context.Context, a A) (R, error)) *Task[A, R] {
	return RegisterCodec(name, fn, nil)
}

// RegisterCodec is Register with the codec for non-raw arguments and
// results (nil means codec.Gob).
func RegisterCodec[A, R any](name string, fn func(ctx context.Context, a A) (R, error), c codec.Codec) *Task[A, R] {
	if name == "" {
		panic("fork: Register with an empty name")
	}
	if fn == nil {
		panic("fork: Register of a nil function")
	}
	t := &Task[A, R]{name: name, fn: fn, arg: codec.For[A](c), res: codec.For[R](c)}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.tasks == nil {
		registry.tasks = map[string]runner{}
	}
	if _, dup := registry.tasks[name]; dup {
		panic(fmt.Sprintf("fork: task %q registered twice", name))
	}
	registry.tasks[name] = t.run
	return t
}

func (t *Task[A, R]) run(ctx context.Context, arg []byte) ([]byte, error) {
	a, err := t.arg.Decode(arg)
	if err != nil {
		return nil, fmt.Errorf("fork: task %q: decoding argument: %w", t.name, err)
	}
	r, err := t.fn(ctx, a)
	if err != nil {
		return nil, err
	}
	return t.res.Append(nil, r)
}

func lookup(name string) (runner, bool) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	r, ok := registry.tasks[name]
	return r, ok
}
