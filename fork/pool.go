package fork

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"

	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// Pool is a set of worker processes that run tasks in parallel (Python's
// multiprocessing.Pool). Tasks travel to each worker, and results back,
// through a duplex ring.Pipe in shared memory, in chunks of many arguments
// per message.
//
// A worker that dies (os.Exit, a signal, a crash) fails the chunks it held
// with an error naming it, matching ErrWorkerDied; the pool starts a
// replacement and goes on. A task's own error or panic fails only its item,
// as a *RemoteError.
type Pool struct {
	opts PoolOptions
	size int

	mu      sync.Mutex
	cond    *sync.Cond // signals: pending work, free capacity, state changes
	workers map[int]*poolWorker
	pending []*chunk // not yet dispatched, FIFO
	nextID  uint64
	nextW   int
	closed  bool  // no new work; workers stop when it is done
	killed  bool  // Terminate: workers killed, pending work failed
	started bool  // NewPool's workers are up (later spawns are replacements)
	broken  error // the initializer failed: no worker can run
	wg      sync.WaitGroup
}

// PoolOptions tune NewPool. A nil *PoolOptions means the zero value.
type PoolOptions struct {
	// Method starts the workers; zero means StartMethod().
	Method Method
	// Initializer runs in each worker before its first task (see
	// Initializer). A failing initializer breaks the pool: every task
	// then fails with its error. Nil means none.
	Initializer *Init
	// MaxTasksPerChild retires a worker after it has run that many chunks
	// and starts a fresh one; zero means workers live as long as the pool.
	MaxTasksPerChild int
	// ChunkSize is the default number of inputs per chunk for Map, Imap
	// and ImapUnordered. Zero means Python's defaults: for Map,
	// len(inputs) divided by four times the number of workers, rounded
	// up; for Imap and ImapUnordered, 1.
	ChunkSize int
}

// Init is a task and argument to run in each new worker.
type Init struct {
	task string
	arg  []byte
}

// Initializer makes an Init from a registered task and its argument.
func Initializer[A, R any](t *Task[A, R], arg A) (*Init, error) {
	b, err := t.arg.Append(nil, arg)
	if err != nil {
		return nil, fmt.Errorf("fork: initializer %q: %w", t.name, err)
	}
	return &Init{task: t.name, arg: b}, nil
}

// chunk is a run of inputs for one task, dispatched to one worker.
type chunk struct {
	id    uint64
	job   *job
	index int // the chunk's place in its job
	task  string
	items []byte // encoded inputs (appendItem each)
	n     int
	refs  []shm.Ref // segments the inputs refer to, handed to the worker first
}

// job is one Map, Imap or ApplyAsync call. deliver is called once per
// chunk, from a worker's reader goroutine, with the chunk's outcomes or
// the error that lost it.
type job struct {
	deliver func(c *chunk, outcomes []byte, err error)
}

// poolWorker is one worker process and the parent's end of its pipe.
type poolWorker struct {
	id       int
	proc     *Process
	conn     *ring.Conn
	todo     chan *chunk
	inflight map[uint64]*chunk // dispatched (queued on todo or sent), no result yet
	budget   int               // chunks it may still take; -1 unlimited
	retiring bool
	todoShut bool // todo closed (guarded by Pool.mu)
	done     int
	passed   []shm.Ref // segments already handed over (sender goroutine only)
}

// shutTodo closes w's queue once. Called holding Pool.mu.
func (w *poolWorker) shutTodo() {
	if !w.todoShut {
		w.todoShut = true
		close(w.todo)
	}
}

// Messages on a worker's pipe.
const (
	msgChunk     = 1 // parent → worker: id u64 | task len u16 | task | n u32 | items
	msgStop      = 2 // parent → worker: finish
	msgResult    = 3 // worker → parent: id u64 | n u32 | outcomes
	msgRetire    = 4 // worker → parent: max tasks reached, exiting
	msgInitError = 5 // worker → parent: gob RemoteError of the initializer
	maxInflight  = 2 // chunks queued per worker beyond the one it runs
)

type poolWorkerArgs struct {
	Conn     *ring.Conn
	InitTask string
	InitArg  []byte
	MaxTasks int
}

var poolWorkerTask = Register("shmkit/fork.poolWorker", runPoolWorker)

// NewPool starts a pool of workers processes (zero means CPUCount()).
func NewPool(workers int, opts *PoolOptions) (*Pool, error) {
	if workers < 0 {
		return nil, fmt.Errorf("fork: NewPool: %d workers", workers)
	}
	if workers == 0 {
		workers = CPUCount()
	}
	p := &Pool{size: workers, workers: map[int]*poolWorker{}}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.MaxTasksPerChild < 0 || p.opts.ChunkSize < 0 {
		return nil, errors.New("fork: NewPool: negative MaxTasksPerChild or ChunkSize")
	}
	p.cond = sync.NewCond(&p.mu)
	for range workers {
		if err := p.spawn(); err != nil {
			p.Terminate()
			return nil, err
		}
	}
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	p.wg.Add(1)
	go p.dispatch()
	return p, nil
}

// spawn starts one worker.
func (p *Pool) spawn() error {
	parent, child, err := ring.Pipe(true)
	if err != nil {
		return err
	}
	args := poolWorkerArgs{Conn: child, MaxTasks: p.opts.MaxTasksPerChild}
	if in := p.opts.Initializer; in != nil {
		args.InitTask, args.InitArg = in.task, in.arg
	}
	p.mu.Lock()
	p.nextW++
	id := p.nextW
	p.mu.Unlock()
	proc, err := Start(context.Background(), poolWorkerTask, args,
		&Options{Method: p.opts.Method, Name: fmt.Sprintf("PoolWorker-%d", id), Daemon: true})
	child.Detach()
	if err != nil {
		parent.Close()
		return err
	}
	w := &poolWorker{id: id, proc: proc, conn: parent, todo: make(chan *chunk, maxInflight+1),
		inflight: map[uint64]*chunk{}, budget: -1}
	if n := p.opts.MaxTasksPerChild; n > 0 {
		w.budget = n
	}
	p.mu.Lock()
	if p.killed || (p.closed && p.started) {
		// Closed or terminated while this replacement started: the
		// dispatcher may be gone, so the worker would never be told to
		// stop. It is not wanted.
		p.mu.Unlock()
		_ = proc.Kill()
		<-proc.Done()
		parent.Close()
		return ErrPoolClosed
	}
	p.workers[id] = w
	reader := make(chan struct{})
	p.wg.Add(3)
	p.cond.Broadcast()
	p.mu.Unlock()
	go p.send(w)
	go p.read(w, reader)
	go p.monitor(w, reader)
	return nil
}

// dispatch hands pending chunks to workers with room, oldest first.
func (p *Pool) dispatch() {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for len(p.pending) > 0 && !p.killed {
			w := p.freeWorker()
			if w == nil {
				break
			}
			c := p.pending[0]
			p.pending = p.pending[1:]
			w.inflight[c.id] = c
			if w.budget > 0 {
				w.budget--
			}
			w.todo <- c // room: at most maxInflight+1 in flight
		}
		if p.killed || (p.closed && len(p.pending) == 0 && p.allIdle()) {
			for _, w := range p.workers {
				w.shutTodo() // the sender tells the worker to stop
			}
			return
		}
		p.cond.Wait()
	}
}

func (p *Pool) freeWorker() *poolWorker {
	var best *poolWorker
	for _, w := range p.workers {
		if w.retiring || w.budget == 0 || len(w.inflight) > maxInflight {
			continue
		}
		if best == nil || len(w.inflight) < len(best.inflight) {
			best = w
		}
	}
	return best
}

func (p *Pool) allIdle() bool {
	for _, w := range p.workers {
		if len(w.inflight) > 0 {
			return false
		}
	}
	return true
}

// send writes a worker's chunks to its pipe, then the stop message.
func (p *Pool) send(w *poolWorker) {
	defer p.wg.Done()
	ctx := context.Background()
	var msg []byte
	var parts [2][]byte
	for c := range w.todo {
		var fresh []shm.Ref
		for _, r := range c.refs {
			if !slices.Contains(w.passed, r) {
				fresh = append(fresh, r)
			}
		}
		if len(fresh) > 0 {
			// If this fails the worker is gone or refused; its items then
			// fail with the reason, and monitor reports a death.
			if w.proc.pass(ctx, fresh) == nil {
				w.passed = append(w.passed, fresh...)
			}
		}
		msg = append(msg[:0], msgChunk)
		msg = binary.LittleEndian.AppendUint64(msg, c.id)
		msg = binary.LittleEndian.AppendUint16(msg, uint16(len(c.task)))
		msg = append(msg, c.task...)
		msg = binary.LittleEndian.AppendUint32(msg, uint32(c.n))
		parts[0], parts[1] = msg, c.items // the items go to the ring in one copy
		if err := w.conn.SendBuffers(ctx, parts[:]); err != nil {
			// The worker is gone: monitor fails the chunks it held, these
			// included, and closes todo.
			for range w.todo {
			}
			return
		}
	}
	_ = w.conn.Send(ctx, []byte{msgStop})
}

// read takes a worker's results off its pipe until the pipe ends.
func (p *Pool) read(w *poolWorker, done chan<- struct{}) {
	defer p.wg.Done()
	defer close(done)
	ctx := context.Background()
	// One buffer for the worker's messages: a result is decoded (copied
	// out) before the next is received.
	buf := make([]byte, 64<<10)
	for {
		n, err := w.conn.RecvInto(ctx, buf)
		if errors.Is(err, io.ErrShortBuffer) {
			buf = make([]byte, n)
			continue
		}
		if err != nil {
			return
		}
		msg := buf[:n]
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case msgResult:
			if len(msg) < 13 {
				continue
			}
			id := binary.LittleEndian.Uint64(msg[1:])
			p.mu.Lock()
			c := w.inflight[id]
			delete(w.inflight, id)
			w.done++
			p.cond.Broadcast()
			p.mu.Unlock()
			if c != nil {
				c.job.deliver(c, msg[13:], nil)
			}
		case msgRetire:
			p.mu.Lock()
			w.retiring = true
			p.cond.Broadcast()
			p.mu.Unlock()
		case msgInitError:
			err := errors.New("initializer failed")
			if _, re, _, e := nextOutcome(msg[1:]); e == nil && re != nil {
				err = re
			}
			p.mu.Lock()
			if p.broken == nil {
				p.broken = fmt.Errorf("fork: pool broken: %w", err)
			}
			p.mu.Unlock()
		}
	}
}

// monitor waits for a worker to end, fails what it held, and replaces it.
func (p *Pool) monitor(w *poolWorker, reader <-chan struct{}) {
	defer p.wg.Done()
	<-w.proc.Done()
	w.conn.Shutdown() // the reader drains what was sent, then stops
	<-reader
	w.conn.Close()
	p.mu.Lock()
	delete(p.workers, w.id)
	w.shutTodo() // the sender, if still blocked on it, ends
	lost := w.inflight
	w.inflight = nil
	// A retiring or stopped worker exits with nothing in flight; anything
	// it held is lost to a death, which the error names.
	died := fmt.Errorf("%w: %s (pid %d) %s while running a chunk", ErrWorkerDied, w.proc.Name(), w.proc.Pid(), describeExit(w.proc.w.state))
	switch {
	case p.killed:
		died = ErrPoolClosed
	case p.broken != nil:
		died = p.broken
		p.failPending(p.broken)
	}
	replace := !p.closed && !p.killed && p.broken == nil
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range lost {
		c.job.deliver(c, nil, died)
	}
	if replace {
		if err := p.spawn(); err != nil && !errors.Is(err, ErrPoolClosed) {
			p.mu.Lock()
			if len(p.workers) == 0 {
				p.broken = fmt.Errorf("fork: pool cannot start workers: %w", err)
				p.failPending(p.broken)
			}
			p.mu.Unlock()
		}
	}
}

// failPending fails every chunk not yet dispatched. Called holding mu.
func (p *Pool) failPending(err error) {
	pending := p.pending
	p.pending = nil
	go func() {
		for _, c := range pending {
			c.job.deliver(c, nil, err)
		}
	}()
}

// submit queues a job's chunks.
func (p *Pool) submit(cs []*chunk) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.killed, p.closed:
		return ErrPoolClosed
	case p.broken != nil:
		return p.broken
	}
	for _, c := range cs {
		p.nextID++
		c.id = p.nextID
	}
	p.pending = append(p.pending, cs...)
	p.cond.Broadcast()
	return nil
}

// cancel drops a job's chunks that have not been dispatched.
func (p *Pool) cancel(j *job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.pending[:0]
	for _, c := range p.pending {
		if c.job != j {
			kept = append(kept, c)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
}

// Close stops the pool from taking tasks; the workers exit once the work
// already submitted is done.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Join waits for the workers to exit after Close or Terminate, or returns
// ctx.Err(). Join on a pool that is still open is an error.
func (p *Pool) Join(ctx context.Context) error {
	p.mu.Lock()
	open := !p.closed && !p.killed
	p.mu.Unlock()
	if open {
		return errors.New("fork: Join of a pool that is not closed")
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Terminate kills the workers at once; work not finished fails with
// ErrPoolClosed.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	p.killed = true
	p.failPending(ErrPoolClosed)
	ws := make([]*poolWorker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.proc.Kill())
	}
	return errors.Join(errs...)
}

// Workers is the number of worker processes the pool keeps.
func (p *Pool) Workers() int { return p.size }

// The worker side.

func runPoolWorker(ctx context.Context, a poolWorkerArgs) (struct{}, error) {
	c := a.Conn
	if c == nil {
		return struct{}{}, errors.New("fork: pool worker without a pipe")
	}
	defer c.Close()
	if a.InitTask != "" {
		e, ok := lookup(a.InitTask)
		var err error
		if !ok {
			err = fmt.Errorf("%w: initializer %q", ErrUnknownTask, a.InitTask)
		} else {
			_, err = e.run(ctx, a.InitArg)
		}
		if err != nil {
			msg := appendFailure([]byte{msgInitError}, a.InitTask, err.Error(), false, "")
			_ = c.Send(ctx, msg)
			return struct{}{}, err
		}
	}
	var out []byte
	for done := 0; ; {
		msg, err := c.Recv(ctx)
		if errors.Is(err, io.EOF) {
			return struct{}{}, nil
		}
		if err != nil {
			return struct{}{}, err
		}
		if len(msg) == 0 || msg[0] == msgStop {
			return struct{}{}, nil
		}
		id, task, n, items, err := parseChunk(msg)
		if err != nil {
			return struct{}{}, err
		}
		out = append(out[:0], msgResult)
		out = binary.LittleEndian.AppendUint64(out, id)
		out = binary.LittleEndian.AppendUint32(out, uint32(n))
		if e, ok := lookup(task); !ok {
			for range n {
				out = appendFailure(out, task, fmt.Sprintf("%v: %q", ErrUnknownTask, task), false, "")
			}
		} else if out, err = e.batch(ctx, items, n, out); err != nil {
			return struct{}{}, err
		}
		if err := c.Send(ctx, out); err != nil {
			return struct{}{}, err
		}
		done++
		if a.MaxTasks > 0 && done >= a.MaxTasks {
			_ = c.Send(ctx, []byte{msgRetire})
			return struct{}{}, nil
		}
	}
}

func parseChunk(msg []byte) (id uint64, task string, n int, items []byte, err error) {
	if len(msg) < 11 || msg[0] != msgChunk {
		return 0, "", 0, nil, fmt.Errorf("%w: chunk header", errFrame)
	}
	id = binary.LittleEndian.Uint64(msg[1:])
	tl := int(binary.LittleEndian.Uint16(msg[9:]))
	if len(msg) < 11+tl+4 {
		return 0, "", 0, nil, fmt.Errorf("%w: chunk task name", errFrame)
	}
	task = string(msg[11 : 11+tl])
	n = int(binary.LittleEndian.Uint32(msg[11+tl:]))
	return id, task, n, msg[15+tl:], nil
}

// The typed front ends.

// chunkSize is the inputs per chunk: size if positive, else the pool's
// default, else Python's choice.
func (p *Pool) chunkSize(n, size int) int {
	if size <= 0 {
		size = p.opts.ChunkSize
	}
	if size <= 0 {
		size = (n + 4*p.size - 1) / (4 * p.size)
	}
	return max(size, 1)
}

// encodeChunk encodes inputs as one chunk, noting the segments they refer
// to.
func encodeChunk[A, R any](t *Task[A, R], inputs []A, j *job, index int) (*chunk, error) {
	c := &chunk{job: j, index: index, task: t.name, n: len(inputs)}
	if t.rawBatch() {
		// Pointer-free arguments refer to no segment: one copy, no tracking.
		c.items = append([]byte(nil), rawSlice(inputs)...)
		return c, nil
	}
	if sz := t.arg.Size(); sz >= 0 {
		c.items = make([]byte, 0, len(inputs)*(4+sz))
	}
	refs, err := shm.TrackRefs(func() error {
		for _, in := range inputs {
			before := len(c.items)
			c.items = append(c.items, 0, 0, 0, 0)
			var err error
			if c.items, err = t.arg.Append(c.items, in); err != nil {
				return fmt.Errorf("fork: task %q: encoding argument: %w", t.name, err)
			}
			binary.LittleEndian.PutUint32(c.items[before:], uint32(len(c.items)-before-4))
		}
		return nil
	})
	c.refs = refs
	return c, err
}

// decodeOutcomes decodes a chunk's n outcomes into results and errors.
//
// *errs stays nil while no item failed; the first failure allocates it.
func decodeOutcomes[A, R any](t *Task[A, R], outcomes []byte, n int, res []R, errs *[]error) error {
	fail := func(i int, err error) {
		if *errs == nil {
			*errs = make([]error, n)
		}
		(*errs)[i] = err
	}
	if t.rawBatch() {
		rsz := t.res.Size()
		if len(outcomes) < 4+n*rsz {
			return fmt.Errorf("%w: raw outcome of %d bytes for %d results", errFrame, len(outcomes), n)
		}
		nfail := int(binary.LittleEndian.Uint32(outcomes))
		copy(rawSlice(res[:n]), outcomes[4:4+n*rsz])
		rest := outcomes[4+n*rsz:]
		for range nfail {
			if len(rest) < 4 {
				return fmt.Errorf("%w: truncated failure", errFrame)
			}
			i := int(binary.LittleEndian.Uint32(rest))
			_, terr, r, err := nextOutcome(rest[4:])
			if err != nil {
				return err
			}
			if i >= n || terr == nil {
				return fmt.Errorf("%w: failure of item %d of %d", errFrame, i, n)
			}
			fail(i, terr)
			rest = r
		}
		return nil
	}
	for i := 0; i < n; i++ {
		val, terr, rest, err := nextOutcome(outcomes)
		if err != nil {
			return err
		}
		outcomes = rest
		if terr != nil {
			fail(i, terr)
			continue
		}
		if res[i], err = t.res.Decode(val); err != nil {
			fail(i, fmt.Errorf("fork: task %q: decoding result: %w", t.name, err))
		}
	}
	return nil
}

// chunkResult is one chunk's decoded outcomes.
type chunkResult[R any] struct {
	c    *chunk
	res  []R
	errs []error // nil when no item failed
	err  error   // the chunk was lost (worker died, pool closed, bad message)
}

// itemErr is item i's error, or nil.
func (r chunkResult[R]) itemErr(i int) error {
	if r.errs == nil {
		return nil
	}
	return r.errs[i]
}

// run encodes inputs chunk by chunk, submitting each as soon as it is
// encoded so workers start while the rest is encoded, and returns the job,
// its chunk count and a channel of chunk results. The channel
// holds every chunk's result, so delivering never blocks a worker's
// goroutines, even when the caller has stopped listening. With into not
// nil (len(inputs) long), chunk results are decoded straight into it, each
// at its inputs' place, instead of into slices of their own.
func run[A, R any](p *Pool, t *Task[A, R], inputs []A, size int, into []R) (*job, int, <-chan chunkResult[R], error) {
	size = p.chunkSize(len(inputs), size)
	n := (len(inputs) + size - 1) / size
	j := &job{}
	out := make(chan chunkResult[R], n)
	j.deliver = func(c *chunk, outcomes []byte, err error) {
		r := chunkResult[R]{c: c, err: err}
		if into != nil {
			// Chunks cover disjoint parts of into: readers of different
			// workers decode side by side.
			r.res = into[c.index*size : c.index*size+c.n : c.index*size+c.n]
		} else {
			r.res = make([]R, c.n)
		}
		if err == nil {
			r.err = decodeOutcomes(t, outcomes, c.n, r.res, &r.errs)
		}
		out <- r
	}
	for i := 0; i < n; i++ {
		c, err := encodeChunk(t, inputs[i*size:min((i+1)*size, len(inputs))], j, i)
		if err == nil {
			err = p.submit([]*chunk{c})
		}
		if err != nil {
			p.cancel(j)
			return nil, 0, nil, err
		}
	}
	return j, n, out, nil
}

// Map runs task on every input in the pool and returns the results in
// input order. It returns the first error in input order: a *RemoteError,
// an error matching ErrWorkerDied, or ctx.Err() (undispatched work is then
// dropped).
func Map[A, R any](ctx context.Context, p *Pool, task *Task[A, R], inputs []A) ([]R, error) {
	return MapChunked(ctx, p, task, inputs, 0)
}

// MapChunked is Map with chunkSize inputs per chunk (0: the pool's default).
func MapChunked[A, R any](ctx context.Context, p *Pool, task *Task[A, R], inputs []A, chunkSize int) ([]R, error) {
	if len(inputs) == 0 {
		return []R{}, nil
	}
	results := make([]R, len(inputs))
	j, nchunks, ch, err := run(p, task, inputs, chunkSize, results) // results decoded in place
	if err != nil {
		return nil, err
	}
	errs := make([]error, nchunks)
	for range nchunks {
		select {
		case r := <-ch:
			errs[r.c.index] = r.err
			if r.err == nil {
				for _, e := range r.errs {
					if e != nil {
						errs[r.c.index] = e
						break
					}
				}
			}
		case <-ctx.Done():
			p.cancel(j)
			return nil, ctx.Err()
		}
	}
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return results, nil
}

// Imap runs task on every input and yields the results in input order as
// they become available. Breaking out of the loop drops the work not yet
// dispatched.
func Imap[A, R any](ctx context.Context, p *Pool, task *Task[A, R], inputs []A) iter.Seq2[R, error] {
	return imap(ctx, p, task, inputs, true)
}

// ImapUnordered is Imap yielding results in the order they complete.
func ImapUnordered[A, R any](ctx context.Context, p *Pool, task *Task[A, R], inputs []A) iter.Seq2[R, error] {
	return imap(ctx, p, task, inputs, false)
}

func imap[A, R any](ctx context.Context, p *Pool, task *Task[A, R], inputs []A, ordered bool) iter.Seq2[R, error] {
	return func(yield func(R, error) bool) {
		var zero R
		if len(inputs) == 0 {
			return
		}
		size := p.opts.ChunkSize
		if size <= 0 {
			size = 1 // Python's imap default
		}
		j, nchunks, ch, err := run(p, task, inputs, size, nil)
		if err != nil {
			yield(zero, err)
			return
		}
		defer p.cancel(j)
		held := map[int]chunkResult[R]{}
		next := 0
		emit := func(r chunkResult[R]) bool {
			for i := 0; i < r.c.n; i++ {
				e := r.err
				if e == nil {
					e = r.itemErr(i)
				}
				if !yield(r.res[i], e) {
					return false
				}
			}
			return true
		}
		for received := 0; received < nchunks; received++ {
			var r chunkResult[R]
			select {
			case r = <-ch:
			case <-ctx.Done():
				yield(zero, ctx.Err())
				return
			}
			if !ordered {
				if !emit(r) {
					return
				}
				continue
			}
			held[r.c.index] = r
			for {
				h, ok := held[next]
				if !ok {
					break
				}
				delete(held, next)
				next++
				if !emit(h) {
					return
				}
			}
		}
	}
}

// AsyncResult is the pending result of ApplyAsync.
type AsyncResult[R any] struct {
	done chan struct{}
	res  R
	err  error
}

// ApplyAsync runs task(arg) in the pool and returns at once.
func ApplyAsync[A, R any](p *Pool, task *Task[A, R], arg A) *AsyncResult[R] {
	a := &AsyncResult[R]{done: make(chan struct{})}
	_, _, ch, err := run(p, task, []A{arg}, 1, nil)
	if err != nil {
		a.err = err
		close(a.done)
		return a
	}
	go func() {
		r := <-ch
		a.res, a.err = r.res[0], r.err
		if a.err == nil {
			a.err = r.itemErr(0)
		}
		close(a.done)
	}()
	return a
}

// Get waits for the result, or returns ctx.Err() (the task keeps running).
func (a *AsyncResult[R]) Get(ctx context.Context) (R, error) {
	select {
	case <-a.done:
		return a.res, a.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// Ready reports whether the result is available.
func (a *AsyncResult[R]) Ready() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// Args2 is a pair of arguments, for tasks of two parameters (Register2)
// and Starmap.
type Args2[A, B any] struct {
	A A
	B B
}

// Register2 registers a task of two arguments; start it with Start, Map or
// Starmap like any task taking an Args2.
func Register2[A, B, R any](name string, fn func(ctx context.Context, a A, b B) (R, error)) *Task[Args2[A, B], R] {
	return Register(name, func(ctx context.Context, ab Args2[A, B]) (R, error) { return fn(ctx, ab.A, ab.B) })
}

// Starmap is Python's starmap: it applies a two-argument task to each pair
// of arguments, returning results in order.
func Starmap[A, B, R any](ctx context.Context, p *Pool, task *Task[Args2[A, B], R], args []Args2[A, B]) ([]R, error) {
	return Map(ctx, p, task, args)
}
