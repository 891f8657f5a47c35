package manager

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/shmkit/shmkit/codec"
)

// values encodes V for a backend: raw where the backend stores raw values
// and V is fixed-size and pointer-free, the manager's codec otherwise.
func values[V any](m *Manager) codec.Of[V] {
	o := codec.For[V](m.codec)
	if o.Raw() && !m.b.rawValues() {
		o = codec.ForCodec[V](m.codec)
	}
	return o
}

// keyCodec encodes dictionary keys so they read naturally in a backend
// another language may inspect: strings as they are, integers in decimal,
// anything else as JSON. With binary set (shared memory, which only Go
// reads), integers are 8 bytes instead, little endian: cheaper to make and
// to compare.
type keyCodec[K comparable] struct {
	kind   reflect.Kind
	binary bool
}

func keysFor[K comparable](m *Manager) keyCodec[K] {
	return keyCodec[K]{kind: reflect.TypeFor[K]().Kind(), binary: m.b.rawValues()}
}

func (c keyCodec[K]) encode(k K) ([]byte, error) { return c.appendTo(nil, k) }

// appendTo appends k's encoding to dst.
func (c keyCodec[K]) appendTo(dst []byte, k K) ([]byte, error) {
	if c.binary {
		switch kv := any(k).(type) {
		case int64:
			return binary.LittleEndian.AppendUint64(dst, uint64(kv)), nil
		case int:
			return binary.LittleEndian.AppendUint64(dst, uint64(kv)), nil
		case uint64:
			return binary.LittleEndian.AppendUint64(dst, kv), nil
		}
		v := reflect.ValueOf(&k).Elem()
		switch c.kind {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return binary.LittleEndian.AppendUint64(dst, uint64(v.Int())), nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return binary.LittleEndian.AppendUint64(dst, v.Uint()), nil
		}
	}
	switch kv := any(k).(type) {
	case string:
		return append(dst, kv...), nil
	case int64:
		return strconv.AppendInt(dst, kv, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(kv), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(kv), 10), nil
	case uint64:
		return strconv.AppendUint(dst, kv, 10), nil
	}
	v := reflect.ValueOf(&k).Elem()
	switch c.kind {
	case reflect.String:
		return append(dst, v.String()...), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(dst, v.Uint(), 10), nil
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("manager: encoding key: %w", err)
	}
	return append(dst, b...), nil
}

func (c keyCodec[K]) decode(b []byte) (K, error) {
	var k K
	v := reflect.ValueOf(&k).Elem()
	if c.binary {
		switch c.kind {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if len(b) != 8 {
				return k, fmt.Errorf("%w: binary key of %d bytes", ErrCorrupt, len(b))
			}
			u := binary.LittleEndian.Uint64(b)
			if v.CanInt() {
				v.SetInt(int64(u))
			} else {
				v.SetUint(u)
			}
			if v.CanInt() && uint64(v.Int()) != u || v.CanUint() && v.Uint() != u {
				return k, fmt.Errorf("%w: key %d out of range for %s", ErrCorrupt, u, v.Type())
			}
			return k, nil
		}
	}
	switch c.kind {
	case reflect.String:
		v.SetString(string(b))
		return k, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(string(b), 10, v.Type().Bits())
		if err != nil {
			return k, fmt.Errorf("%w: key %q: %v", ErrCorrupt, b, err)
		}
		v.SetInt(n)
		return k, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(string(b), 10, v.Type().Bits())
		if err != nil {
			return k, fmt.Errorf("%w: key %q: %v", ErrCorrupt, b, err)
		}
		v.SetUint(n)
		return k, nil
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return k, fmt.Errorf("%w: key %q: %v", ErrCorrupt, b, err)
	}
	return k, nil
}

func (m *Manager) open(ctx context.Context, k kind, name string, n int) error {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if name == "" {
		return fmt.Errorf("manager: empty %v name", k)
	}
	return m.b.open(ctx, k, name, n)
}

// Dict is a shared dictionary (Python's Manager().dict()).
type Dict[K comparable, V any] struct {
	m    *Manager
	name string
	keys keyCodec[K]
	vals codec.Of[V]
	shm  *shmBackend // non-nil: Get's allocation-free path applies
}

// OpenDict opens the Dict called name, creating it empty if absent.
func OpenDict[K comparable, V any](ctx context.Context, m *Manager, name string) (*Dict[K, V], error) {
	if err := m.open(ctx, kindDict, name, 0); err != nil {
		return nil, err
	}
	d := &Dict[K, V]{m: m, name: name, keys: keysFor[K](m), vals: values[V](m)}
	if sb, ok := m.b.(*shmBackend); ok && d.vals.Raw() && d.keys.kind != reflect.Invalid {
		d.shm = sb
	}
	return d, nil
}

// Get returns the value for k and whether it was present.
func (d *Dict[K, V]) Get(ctx context.Context, k K) (V, bool, error) {
	var zero V
	if d.shm != nil {
		// Shared memory and a raw value: key and value stay in stack buffers.
		var kbuf [32]byte
		var vbuf [64]byte
		kb, err := d.keys.appendTo(kbuf[:0], k)
		if err != nil {
			return zero, false, err
		}
		b, ok, err := d.shm.dictGetInto(d.name, kb, vbuf[:0])
		if err != nil || !ok {
			return zero, false, err
		}
		v, err := d.vals.DecodeRaw(b)
		if err != nil {
			return zero, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return v, true, nil
	}
	kb, err := d.keys.encode(k)
	if err != nil {
		return zero, false, err
	}
	b, ok, err := d.m.b.dictGet(ctx, d.name, kb)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := d.vals.Decode(b)
	if err != nil {
		return zero, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return v, true, nil
}

// Set sets k to v.
func (d *Dict[K, V]) Set(ctx context.Context, k K, v V) error {
	if d.shm != nil {
		var kbuf [32]byte
		var vbuf [64]byte
		kb, err := d.keys.appendTo(kbuf[:0], k)
		if err != nil {
			return err
		}
		vb, _ := d.vals.Append(vbuf[:0], v) // raw: cannot fail
		return d.shm.dictSetRaw(ctx, d.name, kb, vb)
	}
	kb, err := d.keys.encode(k)
	if err != nil {
		return err
	}
	vb, err := d.vals.Append(nil, v)
	if err != nil {
		return err
	}
	return d.m.b.dictSet(ctx, d.name, kb, vb)
}

// Delete removes k and reports whether it was present.
func (d *Dict[K, V]) Delete(ctx context.Context, k K) (bool, error) {
	kb, err := d.keys.encode(k)
	if err != nil {
		return false, err
	}
	return d.m.b.dictDelete(ctx, d.name, kb)
}

// Update atomically replaces k's value with fn(old, found); when fn returns
// false the key is deleted instead. fn may be called more than once (the
// Redis backend retries on conflict) and must have no side effects.
func (d *Dict[K, V]) Update(ctx context.Context, k K, fn func(old V, found bool) (V, bool)) error {
	if d.shm != nil {
		return d.updateRaw(ctx, k, fn)
	}
	kb, err := d.keys.encode(k)
	if err != nil {
		return err
	}
	var ferr error
	err = d.m.b.dictUpdate(ctx, d.name, kb, func(old []byte, found bool) ([]byte, bool) {
		ferr = nil
		var ov V
		if found {
			if ov, ferr = d.vals.Decode(old); ferr != nil {
				ferr = fmt.Errorf("%w: %v", ErrCorrupt, ferr)
				return old, true // leave it as it was
			}
		}
		nv, keep := fn(ov, found)
		if !keep {
			return nil, false
		}
		b, err := d.vals.Append(nil, nv)
		if err != nil {
			ferr = err
			return old, found
		}
		return b, true
	})
	if err != nil {
		return err
	}
	return ferr
}

// updateRaw is Update on shared memory with raw values: key, values and
// fn stay on the stack (see shmUpdate), so an Update does not allocate.
func (d *Dict[K, V]) updateRaw(ctx context.Context, k K, fn func(old V, found bool) (V, bool)) error {
	var kbuf [32]byte
	var obuf, nbuf [64]byte
	kb, err := d.keys.appendTo(kbuf[:0], k)
	if err != nil {
		return err
	}
	u, old, err := d.shm.updateBegin(ctx, d.name, kb, obuf[:0])
	defer u.end() // fn may panic while the lock is held
	for err == nil {
		var ov V
		if u.found() {
			if ov, err = d.vals.DecodeRaw(old); err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		nv, keep := fn(ov, u.found())
		nb, _ := d.vals.Append(nbuf[:0], nv) // raw: cannot fail
		var done bool
		if old, done, err = d.shm.updateCommit(ctx, &u, kb, old, nb, keep, obuf[:0]); done {
			return err
		}
	}
	return err
}

// Len is the number of keys.
func (d *Dict[K, V]) Len(ctx context.Context) (int, error) { return d.m.b.dictLen(ctx, d.name) }

// Items returns a copy of the whole dictionary.
func (d *Dict[K, V]) Items(ctx context.Context) (map[K]V, error) {
	out := map[K]V{}
	err := d.m.b.dictItems(ctx, d.name, func(kb, vb []byte) error {
		k, err := d.keys.decode(kb)
		if err != nil {
			return err
		}
		v, err := d.vals.Decode(vb)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out[k] = v
		return nil
	})
	return out, err
}

// Clear removes every key.
func (d *Dict[K, V]) Clear(ctx context.Context) error { return d.m.b.dictClear(ctx, d.name) }

// List is a shared list (Python's Manager().list()).
type List[T any] struct {
	m    *Manager
	name string
	vals codec.Of[T]
}

// OpenList opens the List called name, creating it empty if absent.
func OpenList[T any](ctx context.Context, m *Manager, name string) (*List[T], error) {
	if err := m.open(ctx, kindList, name, 0); err != nil {
		return nil, err
	}
	return &List[T]{m: m, name: name, vals: values[T](m)}, nil
}

// Append adds vs at the end, atomically as a group.
func (l *List[T]) Append(ctx context.Context, vs ...T) error {
	bs := make([][]byte, len(vs))
	for i, v := range vs {
		b, err := l.vals.Append(nil, v)
		if err != nil {
			return err
		}
		bs[i] = b
	}
	return l.m.b.listAppend(ctx, l.name, bs)
}

func (l *List[T]) decode(b []byte, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := l.vals.Decode(b)
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return v, nil
}

// At returns element i; negative i counts from the end, as in Python.
// A bad index is ErrIndex.
func (l *List[T]) At(ctx context.Context, i int) (T, error) {
	return l.decode(l.m.b.listAt(ctx, l.name, i))
}

// Set replaces element i (negative from the end); a bad index is ErrIndex.
func (l *List[T]) Set(ctx context.Context, i int, v T) error {
	b, err := l.vals.Append(nil, v)
	if err != nil {
		return err
	}
	return l.m.b.listSet(ctx, l.name, i, b)
}

// Pop removes and returns the last element; ErrIndex when empty.
func (l *List[T]) Pop(ctx context.Context) (T, error) {
	return l.decode(l.m.b.listPop(ctx, l.name))
}

// Len is the number of elements.
func (l *List[T]) Len(ctx context.Context) (int, error) { return l.m.b.listLen(ctx, l.name) }

// Items returns a copy of the list.
func (l *List[T]) Items(ctx context.Context) ([]T, error) {
	var out []T
	err := l.m.b.listItems(ctx, l.name, func(b []byte) error {
		v, err := l.decode(b, nil)
		out = append(out, v)
		return err
	})
	return out, err
}

// Namespace is a shared bag of named attributes of any type (Python's
// Manager().Namespace()); values go through the manager's codec.
type Namespace struct {
	m    *Manager
	name string
}

// OpenNamespace opens the Namespace called name, creating it if absent.
func OpenNamespace(ctx context.Context, m *Manager, name string) (*Namespace, error) {
	if err := m.open(ctx, kindNamespace, name, 0); err != nil {
		return nil, err
	}
	return &Namespace{m: m, name: name}, nil
}

// Set sets attribute attr to v.
func (n *Namespace) Set(ctx context.Context, attr string, v any) error {
	b, err := n.m.codec.Marshal(v)
	if err != nil {
		return err
	}
	return n.m.b.dictSet(ctx, n.name, []byte(attr), b)
}

// Get decodes attribute attr into out (a pointer); ErrNoAttr when absent.
func (n *Namespace) Get(ctx context.Context, attr string, out any) error {
	b, ok, err := n.m.b.dictGet(ctx, n.name, []byte(attr))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoAttr, attr)
	}
	return n.m.codec.Unmarshal(b, out)
}

// Delete removes attribute attr; ErrNoAttr when absent.
func (n *Namespace) Delete(ctx context.Context, attr string) error {
	ok, err := n.m.b.dictDelete(ctx, n.name, []byte(attr))
	if err == nil && !ok {
		err = fmt.Errorf("%w: %q", ErrNoAttr, attr)
	}
	return err
}

// Attrs lists the attribute names, in no order.
func (n *Namespace) Attrs(ctx context.Context) ([]string, error) {
	var out []string
	err := n.m.b.dictItems(ctx, n.name, func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out, err
}

// Queue is a shared FIFO queue (Python's Manager().Queue()).
type Queue[T any] struct {
	m    *Manager
	name string
	vals codec.Of[T]
}

// OpenQueue opens the Queue called name, creating it empty if absent.
func OpenQueue[T any](ctx context.Context, m *Manager, name string) (*Queue[T], error) {
	if err := m.open(ctx, kindQueue, name, 0); err != nil {
		return nil, err
	}
	return &Queue[T]{m: m, name: name, vals: values[T](m)}, nil
}

// Put adds v at the tail.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	b, err := q.vals.Append(nil, v)
	if err != nil {
		return err
	}
	return q.m.b.queuePut(ctx, q.name, b)
}

// Get removes and returns the head, waiting for one until ctx ends.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	b, err := q.m.b.queueGet(ctx, q.name)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := q.vals.Decode(b)
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return v, nil
}

// Len is the number of queued items.
func (q *Queue[T]) Len(ctx context.Context) (int, error) { return q.m.b.queueLen(ctx, q.name) }

// Lock is a shared mutual-exclusion lock, held by the Manager (process)
// that locked it.
type Lock struct {
	m    *Manager
	name string
}

// OpenLock opens the Lock called name, creating it unlocked if absent.
func OpenLock(ctx context.Context, m *Manager, name string) (*Lock, error) {
	if err := m.open(ctx, kindLock, name, 0); err != nil {
		return nil, err
	}
	return &Lock{m: m, name: name}, nil
}

// Lock locks, waiting until ctx ends.
func (l *Lock) Lock(ctx context.Context) error { return l.m.b.lock(ctx, l.name) }

// Unlock unlocks; ErrNotHeld if this manager does not hold the lock.
func (l *Lock) Unlock(ctx context.Context) error { return l.m.b.unlock(ctx, l.name) }

// Event is a shared flag to wait for.
type Event struct {
	m    *Manager
	name string
}

// OpenEvent opens the Event called name, creating it unset if absent.
func OpenEvent(ctx context.Context, m *Manager, name string) (*Event, error) {
	if err := m.open(ctx, kindEvent, name, 0); err != nil {
		return nil, err
	}
	return &Event{m: m, name: name}, nil
}

// Set sets the event, waking every waiter.
func (e *Event) Set(ctx context.Context) error { return e.m.b.eventSet(ctx, e.name) }

// Clear unsets the event.
func (e *Event) Clear(ctx context.Context) error { return e.m.b.eventClear(ctx, e.name) }

// IsSet reports whether the event is set.
func (e *Event) IsSet(ctx context.Context) (bool, error) { return e.m.b.eventIsSet(ctx, e.name) }

// Wait waits until the event is set or ctx ends.
func (e *Event) Wait(ctx context.Context) error { return e.m.b.eventWait(ctx, e.name) }

// Semaphore is a shared counting semaphore.
type Semaphore struct {
	m    *Manager
	name string
}

// OpenSemaphore opens the Semaphore called name, creating it with count n
// if absent (an existing one keeps its count).
func OpenSemaphore(ctx context.Context, m *Manager, name string, n int) (*Semaphore, error) {
	if n < 0 {
		return nil, fmt.Errorf("manager: semaphore %q: negative count %d", name, n)
	}
	if err := m.open(ctx, kindSemaphore, name, n); err != nil {
		return nil, err
	}
	return &Semaphore{m: m, name: name}, nil
}

// Acquire takes a unit, waiting until ctx ends.
func (s *Semaphore) Acquire(ctx context.Context) error { return s.m.b.semAcquire(ctx, s.name) }

// Release returns a unit.
func (s *Semaphore) Release(ctx context.Context) error { return s.m.b.semRelease(ctx, s.name) }
