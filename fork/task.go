package fork

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime/debug"
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

// batchRunner runs a task over a chunk of encoded arguments (see
// chunkItems) and appends each item's outcome to out (see appendOutcome).
type batchRunner func(ctx context.Context, items []byte, n int, out []byte) ([]byte, error)

type entry struct {
	run   runner
	batch batchRunner
	warm  func() // encodes and decodes a zero argument and result once
}

var registry struct {
	mu    sync.Mutex
	tasks map[string]entry
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
		registry.tasks = map[string]entry{}
	}
	if _, dup := registry.tasks[name]; dup {
		panic(fmt.Sprintf("fork: task %q registered twice", name))
	}
	registry.tasks[name] = entry{run: t.run, batch: t.runBatch, warm: t.warm}
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

// rawBatch reports whether chunks of this task travel as raw arrays:
// both argument and result types are fixed-size and pointer-free, so a
// chunk is n arguments back to back and its outcome n results back to
// back, each a single copy (see runRawBatch).
func (t *Task[A, R]) rawBatch() bool { return t.arg.Raw() && t.res.Raw() }

// runBatch runs the task on each of n encoded arguments in items. A panic
// in one item is that item's RemoteError; the others still run.
func (t *Task[A, R]) runBatch(ctx context.Context, items []byte, n int, out []byte) ([]byte, error) {
	if t.rawBatch() {
		return t.runRawBatch(ctx, items, n, out)
	}
	for i := 0; i < n; i++ {
		arg, rest, err := nextItem(items)
		if err != nil {
			return out, err
		}
		items = rest
		out = t.runItem(ctx, arg, out)
	}
	return out, nil
}

// runRawBatch is runBatch for raw chunks. items holds n arguments of
// A's size back to back. It appends:
//
//	nfail u32 | n results of R's size back to back (zero where the item
//	failed) | nfail × (index u32, then the item's RemoteError as an
//	outcome: itemErr | length u32 | gob)
func (t *Task[A, R]) runRawBatch(ctx context.Context, items []byte, n int, out []byte) ([]byte, error) {
	asz, rsz := t.arg.Size(), t.res.Size()
	if n < 0 || len(items) != n*asz {
		return out, fmt.Errorf("%w: raw chunk of %d bytes for %d items of %d", errFrame, len(items), n, asz)
	}
	hdr := len(out)
	out = append(out, 0, 0, 0, 0)
	base := len(out)
	out = append(out, make([]byte, n*rsz)...)
	results := out[base : base+n*rsz]
	var fails []byte
	nfail := 0
	for i := 0; i < n; i++ {
		a, _ := t.arg.DecodeRaw(items[i*asz : (i+1)*asz])
		r, msg, panicked, stack := t.call(ctx, a)
		if msg != "" || panicked {
			nfail++
			fails = binary.LittleEndian.AppendUint32(fails, uint32(i))
			fails = appendFailure(fails, t.name, msg, panicked, stack)
			continue
		}
		copy(results[i*rsz:(i+1)*rsz], rawSlice([]R{r}))
	}
	binary.LittleEndian.PutUint32(out[hdr:], uint32(nfail))
	return append(out, fails...), nil
}

// call runs the task on one argument, turning an error or a panic into
// its message (and stack).
func (t *Task[A, R]) call(ctx context.Context, a A) (r R, msg string, panicked bool, stack string) {
	defer func() {
		if p := recover(); p != nil {
			msg, panicked, stack = fmt.Sprint(p), true, string(debug.Stack())
		}
	}()
	r, err := t.fn(ctx, a)
	if err != nil {
		return r, err.Error(), false, ""
	}
	return r, "", false, ""
}

// runItem appends one item's outcome: status, length, then the encoded
// result or the gob-encoded RemoteError.
func (t *Task[A, R]) runItem(ctx context.Context, arg []byte, out []byte) (res []byte) {
	start := len(out)
	defer func() {
		if p := recover(); p != nil {
			res = appendFailure(out[:start], t.name, fmt.Sprint(p), true, string(debug.Stack()))
		}
	}()
	a, err := t.arg.Decode(arg)
	if err != nil {
		return appendFailure(out, t.name, fmt.Sprintf("decoding argument: %v", err), false, "")
	}
	r, err := t.fn(ctx, a)
	if err != nil {
		return appendFailure(out, t.name, err.Error(), false, "")
	}
	out = append(out, itemOK, 0, 0, 0, 0)
	body := len(out)
	out, err = t.res.Append(out, r)
	if err != nil {
		return appendFailure(out[:start], t.name, fmt.Sprintf("encoding result: %v", err), false, "")
	}
	binary.LittleEndian.PutUint32(out[body-4:], uint32(len(out)-body))
	return out
}

// warm runs the task's codecs once on zero values: gob compiles a type's
// coder on first use, which an idle worker does before it is needed.
func (t *Task[A, R]) warm() {
	// Zero values of some types cannot be encoded (gob refuses nil
	// pointers, and types' own encoders may panic on a zero value):
	// warming is best effort.
	defer func() { _ = recover() }()
	var a A
	var r R
	if b, err := t.arg.Append(nil, a); err == nil {
		_, _ = t.arg.Decode(b)
	}
	if b, err := t.res.Append(nil, r); err == nil {
		_, _ = t.res.Decode(b)
	}
}

// warmAll warms every registered task's codecs.
func warmAll() {
	registry.mu.Lock()
	var ws []func()
	for _, e := range registry.tasks {
		ws = append(ws, e.warm)
	}
	registry.mu.Unlock()
	for _, w := range ws {
		w()
	}
}

func lookup(name string) (entry, bool) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	r, ok := registry.tasks[name]
	return r, ok
}
