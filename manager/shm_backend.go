package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

// shmBackend is a manager in shared memory (layout and protocols in
// shm_layout.go, mapping lifetimes in shm_mmap.go).
//
// Within the process, each object has a handle (shmObject) that points at
// its directory entry and at the generation of its data it has mapped.
// Operations take no process-local lock: they find the handle, compare the
// entry's gen with the mapped generation (remapping under remapMu when they
// differ), and keep the handle and the generation alive until they return.
type shmBackend struct {
	name     string
	pageSize uint64
	perPage  int
	closing  context.Context // ends when Close begins: wakes blocked waits
	stop     context.CancelFunc
	closed   atomic.Bool

	mu    sync.Mutex                            // guards pages and the writing of objs
	pages []*shmDirPage                         // mapped directory pages
	objs  atomic.Pointer[map[string]*shmObject] // copied on write
	last  atomic.Pointer[shmObject]             // the last handle found
}

// openShm opens (creating if needed) the shared-memory manager called name.
func openShm(ctx context.Context, name string, opts *Options) (backend, error) {
	n, err := shm.ValidateName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: shm:%s: %v", ErrURL, name, err)
	}
	if len(n) > shmMaxManagerName {
		return nil, fmt.Errorf("%w: shm:%s: name longer than %d bytes", ErrURL, name, shmMaxManagerName)
	}
	size := opts.Size
	switch {
	case size == 0:
		size = shmDefaultDirSize
	case size < 0 || size > shmMaxObjSize:
		return nil, fmt.Errorf("manager: shm:%s: Size %d out of range", n, size)
	}
	size = max(size, shmMinDirSize+4095) &^ 4095
	p, err := shmOpenDirectory(ctx, n, size)
	if err != nil {
		return nil, err
	}
	b := &shmBackend{
		name:     n,
		pageSize: p.hdr.pageSize,
		perPage:  len(p.entries),
		pages:    []*shmDirPage{p},
	}
	b.closing, b.stop = context.WithCancel(context.Background())
	b.objs.Store(&map[string]*shmObject{})
	return b, nil
}

func (b *shmBackend) rawValues() bool { return true }

// shmObject is this process's handle on one named object. Operations
// keep it alive (runtime.KeepAlive) while they use e.
type shmObject struct {
	b    *shmBackend
	name string
	kind kind
	id   uint64
	page *shmDirPage  // owns the mapping e points into
	e    *shmDirEntry // in page
	dir  *shmDirPage  // page 0, with the manager's header

	cur     atomic.Pointer[shmMap] // the generation mapped, nil if none
	remapMu sync.Mutex             // serializes remaps
	held    atomic.Bool            // a Lock held through this manager
	// pessimistic counts Dict Updates left to run entirely under the
	// lock, after an optimistic one found its value changed.
	pessimistic atomic.Int32
}

// open registers the object, creating its directory entry if absent.
func (b *shmBackend) open(ctx context.Context, k kind, name string, n int) error {
	if len(name) > shmMaxObjectName {
		return fmt.Errorf("manager: %v name of %d bytes; the limit is %d", k, len(name), shmMaxObjectName)
	}
	if k == kindSemaphore && n > math.MaxInt32 {
		return fmt.Errorf("manager: semaphore %q: count %d above %d", name, n, math.MaxInt32)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	if o := (*b.objs.Load())[name]; o != nil {
		if o.kind != k {
			return fmt.Errorf("%w: %q is a %v, not a %v", ErrKind, name, o.kind, k)
		}
		return nil
	}
	if atomic.LoadUint32(&b.dir().destroyed) != 0 {
		return fmt.Errorf("%w: shm:%s was destroyed", ErrClosed, b.name)
	}
	p, i, err := b.lookup(name)
	if err == nil && p == nil {
		p, i, err = b.create(ctx, k, name, n)
	}
	if err != nil {
		return err
	}
	o := b.handle(p, i)
	if o.kind != k {
		return fmt.Errorf("%w: %q is a %v, not a %v", ErrKind, name, o.kind, k)
	}
	objs := maps.Clone(*b.objs.Load())
	objs[name] = o
	b.objs.Store(&objs)
	return nil
}

// handle makes a handle on the ready entry i of page p.
func (b *shmBackend) handle(p *shmDirPage, i int) *shmObject {
	e := &p.entries[i]
	return &shmObject{
		b:    b,
		name: string(e.name[:min(e.nameLen, shmMaxObjectName)]),
		kind: kind(e.kind),
		id:   uint64(int(p.hdr.page)*b.perPage + i + 1),
		page: p,
		e:    e,
		dir:  b.pages[0],
	}
}

// object returns the handle of an opened object, or ErrClosed. A loop on
// one object finds it in last, without hashing its name.
func (b *shmBackend) object(name string) (*shmObject, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if o := b.last.Load(); o != nil && o.name == name {
		return o, nil
	}
	if o := (*b.objs.Load())[name]; o != nil {
		b.last.Store(o)
		return o, nil
	}
	if b.closed.Load() {
		return nil, ErrClosed // closed since the check above
	}
	return nil, fmt.Errorf("manager: object %q was not opened in this manager", name)
}

func (o *shmObject) segName(gen uint64) string {
	return o.b.name + "." + strconv.FormatUint(o.id, 10) + "." + strconv.FormatUint(gen, 10)
}

// view returns the object's current generation, remapping if another
// process published a new one; nil when the object has none yet (empty).
// The caller keeps the result alive while it uses it.
func (o *shmObject) view() (*shmMap, error) {
	g := atomic.LoadUint64(&o.e.gen)
	if m := o.cur.Load(); m != nil && m.gen == g {
		return m, nil
	}
	if g == shmGenNone {
		return nil, nil
	}
	return o.remap(g)
}

// remap maps generation g (or a later one, if g is gone by the time it
// looks) in place of the one mapped.
func (o *shmObject) remap(g uint64) (*shmMap, error) {
	o.remapMu.Lock()
	defer o.remapMu.Unlock()
	for tries := 0; ; tries++ {
		if o.b.closed.Load() {
			return nil, ErrClosed
		}
		if g == shmGenDestroyed {
			return nil, fmt.Errorf("%w: %v %q: shm:%s was destroyed", ErrClosed, o.kind, o.name, o.b.name)
		}
		if m := o.cur.Load(); m != nil && m.gen >= g {
			return m, nil // as current as asked (a local writer's, say)
		}
		shmHook("remap")
		m, err := shmOpenMap(o.segName(g), o.kind, o.id, g)
		if err != nil && errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("%v %q: %w", o.kind, o.name, err)
		}
		if err != nil {
			// A writer may have replaced g and removed its name meanwhile.
			if now := atomic.LoadUint64(&o.e.gen); now != g && tries < 1000 {
				g = now
				continue
			}
			if errors.Is(err, fs.ErrNotExist) && atomic.LoadUint32(&o.dir.hdr.destroyed) != 0 {
				return nil, fmt.Errorf("%w: %v %q: shm:%s was destroyed", ErrClosed, o.kind, o.name, o.b.name)
			}
			return nil, shmCorruptf("%v %q: generation %d: %v", o.kind, o.name, g, err)
		}
		o.cur.Store(m) // the replaced one is unmapped when unreachable
		return m, nil
	}
}

// shmMaxRebuilds bounds the generations one write builds: the plan makes
// room for the write, so a second one means the memory lies.
const shmMaxRebuilds = 3

// lockObj takes the object's lock. If its holder died, it repairs the
// object first (see "Crashes" in shm_layout.go).
func (o *shmObject) lockObj(ctx context.Context) error {
	switch err := o.e.mu.LockContext(ctx); err {
	case nil:
		return nil
	case locks.ErrOwnerDead:
		rerr := o.recover()
		o.e.mu.MarkConsistent()
		if rerr != nil {
			shmUnlock(&o.e.mu)
			return rerr
		}
		return nil
	case locks.ErrNotRecoverable:
		return shmCorruptf("%v %q: lock not recoverable", o.kind, o.name)
	default:
		return err
	}
}

// shmRecoveries counts repairs after dead lock holders (for tests).
var shmRecoveries atomic.Int64

// recover repairs the object after a writer died holding its lock: it
// removes a half-built next generation and a previous one left linked,
// then rebuilds the current generation's bookkeeping.
func (o *shmObject) recover() error {
	shmRecoveries.Add(1)
	g := atomic.LoadUint64(&o.e.gen)
	if g == shmGenDestroyed {
		return nil
	}
	_ = shm.Unlink(o.segName(g + 1))
	if g == shmGenNone {
		return nil
	}
	if g > 1 {
		_ = shm.Unlink(o.segName(g - 1))
	}
	m, err := o.view()
	if err != nil {
		return err
	}
	err = m.repair()
	runtime.KeepAlive(m)
	if err != nil {
		return fmt.Errorf("%v %q: %w", o.kind, o.name, err)
	}
	return nil
}

// shmUnlock unlocks mu. The checks that make Mutex.Unlock panic come before
// it changes anything, and only garbage in shared memory can fail them, so
// that panic is swallowed: the operations that meet the garbage report it.
func shmUnlock(mu *locks.Mutex) {
	defer func() { _ = recover() }()
	mu.Unlock()
}

// write runs fn on the current generation under the object's lock. When
// fn asks for room, it builds a new generation and runs fn again there.
func (o *shmObject) write(ctx context.Context, fn func(m *shmMap) (shmGrowNeed, error)) error {
	defer runtime.KeepAlive(o)
	if err := o.lockObj(ctx); err != nil {
		return err
	}
	defer shmUnlock(&o.e.mu)
	for range shmMaxRebuilds {
		m, err := o.view()
		if err != nil {
			return err
		}
		need, err := fn(m)
		runtime.KeepAlive(m)
		if err != nil || need.none() {
			return err
		}
		if err := o.rebuild(m, need, false); err != nil {
			return err
		}
	}
	return shmCorruptf("%v %q: no room after %d new generations", o.kind, o.name, shmMaxRebuilds)
}

// rebuild builds the next generation from m (empty if clear), sized for
// its live entries plus need, publishes it and retires m. Called with the
// object's lock held.
func (o *shmObject) rebuild(m *shmMap, need shmGrowNeed, clear bool) error {
	g := atomic.LoadUint64(&o.e.gen)
	if m != nil && m.gen != g || g == shmGenDestroyed {
		return shmCorruptf("%v %q: generation changed under the lock", o.kind, o.name)
	}
	src := m
	if clear {
		src = nil
	}
	live, liveBytes, err := src.stats()
	if err != nil {
		return fmt.Errorf("%v %q: %w", o.kind, o.name, err)
	}
	slots, size, err := shmPlan(o.kind, live, liveBytes, need)
	if err != nil {
		return err
	}
	name := o.segName(g + 1)
	nm, err := shmCreateMap(name, int64(size), o.kind, o.id, g+1, slots)
	if err != nil {
		return fmt.Errorf("manager: %v %q: new generation: %w", o.kind, o.name, err)
	}
	err = src.copyTo(nm)
	runtime.KeepAlive(src)
	if err != nil {
		_ = shm.Unlink(name)
		return fmt.Errorf("%v %q: %w", o.kind, o.name, err)
	}
	shmHook("grow-built")
	atomic.StoreUint64(&o.e.gen, g+1) // publishes
	shmHook("grow-published")
	if g != shmGenNone {
		_ = shm.Unlink(o.segName(g))
	}
	o.remapMu.Lock()
	o.cur.Store(nm)
	o.remapMu.Unlock()
	return nil
}

// read runs fn on the current generation without the lock.
func (b *shmBackend) read(obj string, fn func(m *shmMap) error) error {
	o, err := b.object(obj)
	if err != nil {
		return err
	}
	m, err := o.view()
	if err != nil {
		return err
	}
	err = fn(m)
	runtime.KeepAlive(o)
	runtime.KeepAlive(m)
	return err
}

// write runs fn under obj's lock (see shmObject.write).
func (b *shmBackend) write(ctx context.Context, obj string, fn func(m *shmMap) (shmGrowNeed, error)) error {
	o, err := b.object(obj)
	if err != nil {
		return err
	}
	return o.write(ctx, fn)
}

func (b *shmBackend) dictGet(ctx context.Context, obj string, key []byte) ([]byte, bool, error) {
	o, err := b.object(obj)
	if err != nil {
		return nil, false, err
	}
	m, err := o.view()
	if err != nil {
		return nil, false, err
	}
	v, ok, err := m.dictGet(key)
	runtime.KeepAlive(o)
	runtime.KeepAlive(m)
	return v, ok, err
}

// dictGetInto is dictGet appending the value to dst: Dict.Get's fast path
// for this backend passes stack buffers for the key and the value, and
// calls it directly (not through the backend interface) so that neither
// escapes to the heap.
func (b *shmBackend) dictGetInto(obj string, key, dst []byte) ([]byte, bool, error) {
	o, err := b.object(obj)
	if err != nil {
		return nil, false, err
	}
	m, err := o.view()
	if err != nil {
		return nil, false, err
	}
	var v []byte
	var found bool
	if m != nil {
		p, perr := m.probe(key)
		found, err = p.found, perr
		if err == nil && found {
			var off, vl uint64
			if off, _, vl, err = m.entry(p.ref); err == nil {
				v = m.appendValue(dst, off, vl)
			}
		}
	}
	runtime.KeepAlive(o)
	runtime.KeepAlive(m)
	return v, found && err == nil, err
}

func (b *shmBackend) dictSet(ctx context.Context, obj string, key, val []byte) error {
	return b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) { return m.dictSet(key, val) })
}

func (b *shmBackend) dictDelete(ctx context.Context, obj string, key []byte) (bool, error) {
	var found bool
	err := b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		var err error
		found, err = m.dictDelete(key)
		return shmGrowNeed{}, err
	})
	return found, err
}

// dictUpdate calls fn on a lock-free read of the value, then takes the
// object's lock and stores fn's result if the value is still the one fn
// saw; if it changed, it calls fn again on the current value, under the
// lock. So the lock is held for a probe and a store, not for fn and the
// codec's allocations. Where that guess fails (processes updating the same
// key), the next updates of the object skip it and run fn under the lock
// straight away. fn must not use this manager's objects (their locks
// belong to the process: it would wait for itself).
func (b *shmBackend) dictUpdate(ctx context.Context, obj string, key []byte, fn func(old []byte, found bool) ([]byte, bool)) error {
	o, err := b.object(obj)
	if err != nil {
		return err
	}
	if o.pessimistic.Load() > 0 {
		o.pessimistic.Add(-1)
		return o.write(ctx, func(m *shmMap) (shmGrowNeed, error) { return m.dictUpdate(key, fn) })
	}
	m, err := o.view()
	if err != nil {
		return err
	}
	hint, old, err := m.dictFind(key)
	if err != nil {
		return err
	}
	val, keep := fn(old, hint.found)
	var missed bool
	err = o.write(ctx, func(cur *shmMap) (shmGrowNeed, error) {
		return cur.dictUpdateIf(key, m, hint, old, val, keep, &missed, fn)
	})
	runtime.KeepAlive(m)
	if missed {
		o.pessimistic.Store(shmPessimisticUpdates)
	}
	return err
}

// shmPessimisticUpdates is how many Updates of an object run under the
// lock after an optimistic one missed.
const shmPessimisticUpdates = 16

func (b *shmBackend) dictLen(ctx context.Context, obj string) (int, error) {
	var n int
	err := b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		var err error
		n, err = m.dictLen()
		return shmGrowNeed{}, err
	})
	return n, err
}

func (b *shmBackend) dictItems(ctx context.Context, obj string, yield func(key, val []byte) error) error {
	var keys, vals [][]byte
	err := b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		var err error
		keys, vals, err = m.dictItems()
		return shmGrowNeed{}, err
	})
	if err != nil {
		return err
	}
	for i := range keys {
		if err := yield(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (b *shmBackend) dictClear(ctx context.Context, obj string) error {
	o, err := b.object(obj)
	if err != nil {
		return err
	}
	return o.write(ctx, func(m *shmMap) (shmGrowNeed, error) {
		if n, err := m.dictLen(); err == nil && n == 0 {
			return shmGrowNeed{}, nil
		}
		// One store of gen publishes an empty generation.
		return shmGrowNeed{}, o.rebuild(m, shmGrowNeed{}, true)
	})
}

func (b *shmBackend) listAppend(ctx context.Context, obj string, vals [][]byte) error {
	if len(vals) == 0 {
		return nil
	}
	return b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) { return m.listAppend(vals) })
}

func (b *shmBackend) listAt(ctx context.Context, obj string, i int) ([]byte, error) {
	var v []byte
	err := b.read(obj, func(m *shmMap) error {
		if m == nil {
			return fmt.Errorf("%w: %d of an empty list", ErrIndex, i)
		}
		var err error
		v, err = m.listAt(i)
		return err
	})
	return v, err
}

func (b *shmBackend) listSet(ctx context.Context, obj string, i int, val []byte) error {
	return b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		if m == nil {
			return shmGrowNeed{}, fmt.Errorf("%w: %d of an empty list", ErrIndex, i)
		}
		return m.listSet(i, val)
	})
}

func (b *shmBackend) listPop(ctx context.Context, obj string) ([]byte, error) {
	var v []byte
	err := b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		if m == nil {
			return shmGrowNeed{}, fmt.Errorf("%w: pop from an empty list", ErrIndex)
		}
		var err error
		v, err = m.listPop()
		return shmGrowNeed{}, err
	})
	return v, err
}

func (b *shmBackend) listLen(ctx context.Context, obj string) (int, error) {
	var n uint64
	err := b.read(obj, func(m *shmMap) error {
		var err error
		n, err = m.listLen()
		return err
	})
	return int(n), err
}

func (b *shmBackend) listItems(ctx context.Context, obj string, yield func(val []byte) error) error {
	var vals [][]byte
	err := b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		var err error
		vals, err = m.listItems()
		return shmGrowNeed{}, err
	})
	if err != nil {
		return err
	}
	for _, v := range vals {
		if err := yield(v); err != nil {
			return err
		}
	}
	return nil
}

func (b *shmBackend) queuePut(ctx context.Context, obj string, val []byte) error {
	o, err := b.object(obj)
	if err != nil {
		return err
	}
	if err := o.write(ctx, func(m *shmMap) (shmGrowNeed, error) { return m.queuePut(val) }); err != nil {
		return err
	}
	o.e.cond.Signal()
	runtime.KeepAlive(o)
	return nil
}

// queueGet takes the head item, waiting on the entry's Cond (with the
// object's lock) while the queue is empty.
func (b *shmBackend) queueGet(ctx context.Context, obj string) ([]byte, error) {
	o, err := b.object(obj)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(o)
	if err := o.lockObj(ctx); err != nil {
		return nil, err
	}
	held := true
	defer func() {
		if held {
			shmUnlock(&o.e.mu)
		}
	}()
	var wctx context.Context
	for {
		m, err := o.view()
		if err != nil {
			return nil, err
		}
		v, ok, err := m.queuePop()
		runtime.KeepAlive(m)
		if err != nil || ok {
			return v, err
		}
		if wctx == nil {
			var cancel context.CancelFunc
			wctx, cancel = b.waitContext(ctx)
			defer cancel()
		}
		if err := wctx.Err(); err != nil {
			return nil, b.waitErr(ctx, err)
		}
		err = o.condWait(wctx, &held)
		switch {
		case err == nil:
		case errors.Is(err, locks.ErrOwnerDead):
			rerr := o.recover()
			o.e.mu.MarkConsistent()
			if rerr != nil {
				return nil, rerr
			}
		case !held || errors.Is(err, locks.ErrCorrupt):
			return nil, shmCorruptf("%v %q: %v", o.kind, o.name, err)
		default:
			// Cancelled. A Signal meant for us may have been taken with
			// our token: pass it on if an item is there.
			if m, verr := o.view(); verr == nil {
				if n, _ := m.queueLen(); n > 0 {
					o.e.cond.Signal()
				}
				runtime.KeepAlive(m)
			}
			return nil, b.waitErr(ctx, err)
		}
	}
}

// condWait waits on the entry's Cond, releasing and retaking its lock;
// *held reports whether it returned holding the lock (a panic from garbage
// in the lock word leaves it unheld).
func (o *shmObject) condWait(ctx context.Context, held *bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			*held = false
			err = fmt.Errorf("%v", r)
		}
	}()
	return o.e.cond.WaitContext(ctx, &o.e.mu)
}

func (b *shmBackend) queueLen(ctx context.Context, obj string) (int, error) {
	var n int
	err := b.write(ctx, obj, func(m *shmMap) (shmGrowNeed, error) {
		var err error
		n, err = m.queueLen()
		return shmGrowNeed{}, err
	})
	return n, err
}

// waitContext is ctx, also cancelled when the manager is closed, for
// blocking waits.
func (b *shmBackend) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.closing, cancel)
	return c, func() {
		stop()
		cancel()
	}
}

// waitErr is the error of a wait that ended with err: ErrClosed when the
// manager's Close ended it.
func (b *shmBackend) waitErr(ctx context.Context, err error) error {
	if ctx.Err() == nil && b.closing.Err() != nil {
		return ErrClosed
	}
	return err
}

// simple runs fn on obj's handle.
func (b *shmBackend) simple(obj string, fn func(o *shmObject) error) error {
	o, err := b.object(obj)
	if err != nil {
		return err
	}
	err = fn(o)
	runtime.KeepAlive(o)
	return err
}

// shmHeldLocks holds the handles of the Locks this process holds, so that
// the mapping of a held Mutex stays valid (the kernel follows its
// robust-list link when the process dies) even if its Manager is dropped
// without Close.
var shmHeldLocks sync.Map // *shmObject -> struct{}

// lock takes the Lock. The lock word belongs to the process; the handle
// records that this manager holds it, so that another manager's (or
// process's) Unlock is refused. A Lock whose holder died is acquired.
func (b *shmBackend) lock(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) error {
		mu := &o.e.lock
		if !mu.TryLock() {
			wctx, cancel := b.waitContext(ctx)
			defer cancel()
			switch err := mu.LockContext(wctx); err {
			case nil:
			case locks.ErrOwnerDead:
				mu.MarkConsistent()
			case locks.ErrNotRecoverable:
				return shmCorruptf("Lock %q: not recoverable", obj)
			default:
				return b.waitErr(ctx, err)
			}
		}
		shmHeldLocks.Store(o, struct{}{})
		o.held.Store(true)
		if b.closed.Load() && o.held.CompareAndSwap(true, false) {
			// Close ran meanwhile and may have missed it: the mutex must
			// not stay held once the mapping may go away.
			o.unlockLock()
			return ErrClosed
		}
		return nil
	})
}

// unlockLock unlocks the Lock, which this manager held.
func (o *shmObject) unlockLock() {
	shmUnlock(&o.e.lock)
	shmHeldLocks.Delete(o)
}

func (b *shmBackend) unlock(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) error {
		if !o.held.CompareAndSwap(true, false) {
			return fmt.Errorf("%w: Lock %q", ErrNotHeld, obj)
		}
		o.unlockLock()
		return nil
	})
}

func (b *shmBackend) eventSet(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) error { o.e.event.Set(); return nil })
}

func (b *shmBackend) eventClear(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) error { o.e.event.Clear(); return nil })
}

func (b *shmBackend) eventIsSet(ctx context.Context, obj string) (bool, error) {
	var set bool
	err := b.simple(obj, func(o *shmObject) error { set = o.e.event.IsSet(); return nil })
	return set, err
}

func (b *shmBackend) eventWait(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) error {
		return b.block(ctx, o.e.event.IsSet, o.e.event.Wait)
	})
}

func (b *shmBackend) semAcquire(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) error {
		return b.block(ctx, o.e.sem.TryAcquire, o.e.sem.Acquire)
	})
}

// block returns at once if try succeeds; otherwise it runs wait under the
// manager's wait context (see waitContext) and maps its error (waitErr).
func (b *shmBackend) block(ctx context.Context, try func() bool, wait func(context.Context) error) error {
	if try() {
		return nil
	}
	wctx, cancel := b.waitContext(ctx)
	defer cancel()
	if err := wait(wctx); err != nil {
		return b.waitErr(ctx, err)
	}
	return nil
}

func (b *shmBackend) semRelease(ctx context.Context, obj string) error {
	return b.simple(obj, func(o *shmObject) (err error) {
		if o.e.sem.Value() >= math.MaxInt32 {
			return fmt.Errorf("manager: Semaphore %q: count overflow", obj)
		}
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("manager: Semaphore %q: %v", obj, r)
			}
		}()
		o.e.sem.Release()
		return nil
	})
}

// close releases this process's hold on the manager: blocked waits
// return ErrClosed, a Lock this manager holds is unlocked (a held Mutex
// must not be unmapped: the kernel follows its robust-list link when the
// process dies), and the references to the mappings are dropped, so that
// they are unmapped once the operations still running have returned (see
// shm_mmap.go). No descriptor is held.
func (b *shmBackend) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Swap(true) {
		return nil
	}
	b.stop()
	for _, o := range *b.objs.Load() {
		if o.held.CompareAndSwap(true, false) {
			o.unlockLock()
		}
		o.remapMu.Lock()
		o.cur.Store(nil)
		o.remapMu.Unlock()
	}
	b.objs.Store(&map[string]*shmObject{})
	b.last.Store(nil)
	b.pages = nil
	return nil
}

// destroy removes every segment of the manager. Each object is locked
// while its gen is set to "destroyed" and its segments are unlinked, so no
// writer can publish a generation afterwards; processes that still have
// the manager open get ErrClosed from then on.
func (b *shmBackend) destroy(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	if err := b.lockDir(ctx); err != nil {
		return err
	}
	defer shmUnlock(&b.dir().mu)
	atomic.StoreUint32(&b.dir().destroyed, 1)
	var errs []error
	pages, err := b.pageCount()
	if err != nil {
		return err
	}
	for pk := range pages {
		p, err := b.page(pk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i := range p.entries {
			e := &p.entries[i]
			if atomic.LoadUint32(&e.state) != shmEntryReady || !shmHasSegment(kind(e.kind)) {
				continue
			}
			if err := b.destroyObject(ctx, b.handle(p, i)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for k := 1; k <= pages; k++ { // page "pages" may be half-built
		if err := shm.Unlink(b.pageName(k)); err != nil && k < pages {
			errs = append(errs, err)
		}
	}
	if err := shm.Unlink(b.name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (b *shmBackend) destroyObject(ctx context.Context, o *shmObject) error {
	switch err := o.e.mu.LockContext(ctx); err {
	case nil:
	case locks.ErrOwnerDead:
		o.e.mu.MarkConsistent()
	case locks.ErrNotRecoverable:
		// Nobody can publish a generation: unlink without the lock.
		o.unlinkAround(atomic.LoadUint64(&o.e.gen))
		atomic.StoreUint64(&o.e.gen, shmGenDestroyed)
		return nil
	default:
		return err
	}
	g := atomic.SwapUint64(&o.e.gen, shmGenDestroyed)
	o.unlinkAround(g)
	shmUnlock(&o.e.mu)
	o.e.cond.Broadcast()
	return nil
}

// unlinkAround removes generations g-1, g and g+1 of o: the current one and
// those a dead writer may have left.
func (o *shmObject) unlinkAround(g uint64) {
	if g == shmGenDestroyed {
		return
	}
	for _, x := range []uint64{g - 1, g, g + 1} {
		if x != shmGenNone && x != shmGenDestroyed {
			_ = shm.Unlink(o.segName(x))
		}
	}
}
