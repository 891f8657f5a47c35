package rawarray

import (
	"os"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/locks"
)

// Value is a shared value of type T guarded by a process-shared lock:
// Python's multiprocessing.Value. It lives in shared memory, so every
// process that opens it sees one value.
//
// Memory layout (ValueSize = 64 bytes, 8-byte aligned):
//
//	offset size field
//	0      32   header    kind 1, length 1, data offset 56, lock kind 1
//	                      (see the package documentation)
//	32     16   lock      locks.Mutex, its published layout; zero = unlocked
//	48     8    reserved  zero (room for a recursive lock's owner and count)
//	56     8    slot      the value in its first sizeof(T) bytes, the rest zero
//
// Placed at a multiple of 64, the lock and the value share one cache line,
// so a hand-off between processes moves one line.
//
// Load and Store are single atomic accesses. Each is indivisible, as
// Python's locked value get and set are, and they are safe to call with or
// without the lock held. Store is a release store and Load an acquire load
// (not sequentially consistent: a Store and a later Load of another
// location may be reordered). Lock and Unlock make a sequence of them
// atomic:
//
//	v.Lock()
//	v.Store(v.Load() + 1)
//	v.Unlock()
//
// Unlike Python's, Load and Store do not wait for the lock (the difference
// in the package documentation, "Locking"): a Store from outside the lock
// can land between another process's locked Load and Store and be
// overwritten by it. Do every write that competes with locked updates
// under the lock.
//
// A Value's methods are safe for concurrent use by any number of
// goroutines and processes, except Close (see Close).
type Value[T ctypes.Scalar] struct {
	obj    object
	mu     *locks.Mutex
	p      *T
	isBool bool
}

// NewValue returns a Value holding init, in a new anonymous segment that
// it owns. Share it with another process by descriptor (File, Ref).
func NewValue[T ctypes.Scalar](init T) (*Value[T], error) {
	return NewValueOptions(init, nil)
}

// NewValueCode is NewValue recording the Python type code code, which must
// fit T (CheckCode): NewValueCode[int64]("l", 0) is Python's
// Value('l', 0).
func NewValueCode[T ctypes.Scalar](code string, init T) (*Value[T], error) {
	return NewValueOptions(init, &Options{Code: code})
}

// PlaceValue places a Value holding init at offset off of mem, usually a
// segment the caller made, overwriting the ValueSize bytes there. The
// Value does not own mem: closing it leaves mem alone, and mem must stay
// mapped while the Value is used.
func PlaceValue[T ctypes.Scalar](mem Memory, off int, init T) (*Value[T], error) {
	return NewValueOptions(init, &Options{In: mem, Offset: off})
}

// NewValueOptions returns a Value holding init, placed as opts says.
func NewValueOptions[T ctypes.Scalar](init T, opts *Options) (*Value[T], error) {
	o, b, err := build[T](KindValue, 1, opts)
	if err != nil {
		return nil, err
	}
	v := bindValue[T](o, b)
	storeAtomic(v.p, init)
	publish(b, o.off)
	return v, nil
}

// AttachValue returns the Value placed at offset off of mem, after
// validating its header: ErrBadMagic when there is none, ErrKind when
// another kind of object is there, ErrType when its type code does not fit
// T, ErrVersion, ErrCorrupt, ErrBounds, ErrMisaligned. The Value does not
// own mem.
func AttachValue[T ctypes.Scalar](mem Memory, off int) (*Value[T], error) {
	o, b, err := attach[T](mem, off, KindValue)
	if err != nil {
		return nil, err
	}
	return bindValue[T](o, b), nil
}

// OpenValue maps the segment ref names and attaches the Value there,
// checking it against ref. The Value owns the new mapping; Close releases
// it. An inherited descriptor (ref.Fd) is duplicated, not taken: it stays
// open, and the caller may open more objects from it.
func OpenValue[T ctypes.Scalar](ref Ref) (*Value[T], error) {
	o, b, err := open[T](ref, KindValue)
	if err != nil {
		return nil, err
	}
	return bindValue[T](o, b), nil
}

func bindValue[T ctypes.Scalar](o object, b []byte) *Value[T] {
	return &Value[T]{
		obj:    o,
		mu:     view[locks.Mutex](b[o.off+HeaderSize:]),
		p:      view[T](b[o.off+syncDataOff:]),
		isBool: isBool[T](),
	}
}

// Load returns the value, read atomically. It does not take the lock.
func (v *Value[T]) Load() T { return loadAtomic(v.p, v.isBool) }

// Store sets the value, written atomically. It does not take the lock.
func (v *Value[T]) Store(x T) { storeAtomic(v.p, x) }

// Lock locks the Value's lock (Python's get_lock().acquire()), waiting as
// long as it takes. The lock is a locks.Mutex: held by this process, not
// by the goroutine, and not recursive, so a goroutine that holds it must
// not Lock again. If its previous holder died holding it, Lock takes it
// regardless; use Mutex().LockContext to learn of that.
func (v *Value[T]) Lock() { v.mu.Lock() }

// Unlock unlocks the Value's lock. It panics if this process does not
// hold it.
func (v *Value[T]) Unlock() { v.mu.Unlock() }

// Mutex returns the Value's lock itself, in shared memory, for TryLock,
// LockContext and owner-death recovery (locks.ErrOwnerDead). It is valid
// until Close.
func (v *Value[T]) Mutex() *locks.Mutex { return v.mu }

// Ref returns a reference another process can open with OpenValue
// (ErrNoRef if the Value is not in a *shm.Segment).
func (v *Value[T]) Ref() (Ref, error) { return v.obj.ref() }

// File returns a new descriptor of the Value's segment, to pass to another
// process, which opens the Value from Ref with Fd set to the descriptor's
// number there. The caller owns the file.
func (v *Value[T]) File() (*os.File, error) { return v.obj.file() }

// Close releases the Value: it closes the segment the Value owns (made by
// NewValue or mapped by OpenValue), and nothing else when the Value was
// placed in or attached to the caller's memory. Close is idempotent. It
// must not run concurrently with other methods, nor while this process
// holds the lock, and the Value must not be used after it (doing so
// panics).
func (v *Value[T]) Close() error {
	v.mu, v.p = nil, nil
	return v.obj.close()
}

// Unlink removes the name of the segment the Value owns, if it is named
// (Options.Name, or opened by name); processes that have it open keep it.
// It does nothing for anonymous segments and for memory the Value does not
// own.
func (v *Value[T]) Unlink() error { return v.obj.unlink() }

// RawValue is a shared value of type T without a lock: Python's
// multiprocessing.RawValue.
//
// Memory layout (RawValueSize = 40 bytes, 8-byte aligned):
//
//	offset size field
//	0      32   header  kind 2, length 1, data offset 32, lock kind 0
//	32     8    slot    the value in its first sizeof(T) bytes, the rest zero
//
// Load and Store are single atomic accesses, so a RawValue serves as a flag
// or a counter that one process writes and others poll. Nothing makes a
// sequence of them atomic: guard read-modify-write with a lock of your own,
// or use a Value.
//
// A RawValue's methods are safe for concurrent use, except Close.
type RawValue[T ctypes.Scalar] struct {
	obj    object
	p      *T
	isBool bool
}

// NewRawValue returns a RawValue holding init, in a new anonymous segment
// that it owns.
func NewRawValue[T ctypes.Scalar](init T) (*RawValue[T], error) {
	return NewRawValueOptions(init, nil)
}

// NewRawValueCode is NewRawValue recording the Python type code code, which
// must fit T (CheckCode).
func NewRawValueCode[T ctypes.Scalar](code string, init T) (*RawValue[T], error) {
	return NewRawValueOptions(init, &Options{Code: code})
}

// PlaceRawValue places a RawValue holding init at offset off of mem,
// overwriting the RawValueSize bytes there. The RawValue does not own mem.
func PlaceRawValue[T ctypes.Scalar](mem Memory, off int, init T) (*RawValue[T], error) {
	return NewRawValueOptions(init, &Options{In: mem, Offset: off})
}

// NewRawValueOptions returns a RawValue holding init, placed as opts says.
func NewRawValueOptions[T ctypes.Scalar](init T, opts *Options) (*RawValue[T], error) {
	o, b, err := build[T](KindRawValue, 1, opts)
	if err != nil {
		return nil, err
	}
	v := bindRawValue[T](o, b)
	storeAtomic(v.p, init)
	publish(b, o.off)
	return v, nil
}

// AttachRawValue returns the RawValue placed at offset off of mem, after
// validating its header as AttachValue does.
func AttachRawValue[T ctypes.Scalar](mem Memory, off int) (*RawValue[T], error) {
	o, b, err := attach[T](mem, off, KindRawValue)
	if err != nil {
		return nil, err
	}
	return bindRawValue[T](o, b), nil
}

// OpenRawValue opens the RawValue ref refers to, as OpenValue does.
func OpenRawValue[T ctypes.Scalar](ref Ref) (*RawValue[T], error) {
	o, b, err := open[T](ref, KindRawValue)
	if err != nil {
		return nil, err
	}
	return bindRawValue[T](o, b), nil
}

func bindRawValue[T ctypes.Scalar](o object, b []byte) *RawValue[T] {
	return &RawValue[T]{obj: o, p: view[T](b[o.off+rawDataOff:]), isBool: isBool[T]()}
}

// Load returns the value, read atomically.
func (v *RawValue[T]) Load() T { return loadAtomic(v.p, v.isBool) }

// Store sets the value, written atomically.
func (v *RawValue[T]) Store(x T) { storeAtomic(v.p, x) }

// Ref returns a reference another process can open with OpenRawValue.
func (v *RawValue[T]) Ref() (Ref, error) { return v.obj.ref() }

// File returns a new descriptor of the RawValue's segment, as Value.File.
func (v *RawValue[T]) File() (*os.File, error) { return v.obj.file() }

// Close releases the RawValue as Value.Close does.
func (v *RawValue[T]) Close() error {
	v.p = nil
	return v.obj.close()
}

// Unlink removes the name of the segment the RawValue owns, as
// Value.Unlink does.
func (v *RawValue[T]) Unlink() error { return v.obj.unlink() }
