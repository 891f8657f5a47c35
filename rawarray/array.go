package rawarray

import (
	"os"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/locks"
)

// Array is a shared array of n elements of type T guarded by a
// process-shared lock: Python's multiprocessing.Array.
//
// Memory layout (ArraySize[T](n) = 56 + roundup(n*s, 8) bytes for elements
// of s bytes, 8-byte aligned):
//
//	offset size field
//	0      32   header    kind 3, length n, data offset 56, lock kind 1
//	32     16   lock      locks.Mutex; zero = unlocked
//	48     8    reserved  zero
//	56     n*s  elements  a C array: element i at 56 + i*s
//	56+n*s pad  zero, up to a multiple of 8
//
// At and Set are single atomic accesses to one element, safe with or
// without the lock. Lock and Unlock make a sequence of accesses atomic;
// Slice is the elements themselves, for bulk work under the lock:
//
//	a.Lock()
//	for i, x := range a.Slice() { ... }
//	a.Unlock()
//
// As with Value, At and Set do not wait for the lock (see the package
// documentation, "Locking").
//
// An Array's methods are safe for concurrent use by any number of
// goroutines and processes, except Close, and except that the slice
// returned by Slice is plain memory.
type Array[T ctypes.Scalar] struct {
	obj    object
	mu     *locks.Mutex
	s      []T
	isBool bool
}

// NewArray returns an Array of n zero elements, in a new anonymous segment
// that it owns. n may be zero; a negative n is an error wrapping ErrLength.
func NewArray[T ctypes.Scalar](n int) (*Array[T], error) {
	return NewArrayOptions[T](n, nil)
}

// NewArrayCode is NewArray recording the Python type code code, which must
// fit T (CheckCode): NewArrayCode[float64]("d", 10) is Python's
// Array('d', 10).
func NewArrayCode[T ctypes.Scalar](code string, n int) (*Array[T], error) {
	return NewArrayOptions[T](n, &Options{Code: code})
}

// PlaceArray places an Array of n zero elements at offset off of mem,
// overwriting the ArraySize[T](n) bytes there. The Array does not own mem.
func PlaceArray[T ctypes.Scalar](mem Memory, off int, n int) (*Array[T], error) {
	return NewArrayOptions[T](n, &Options{In: mem, Offset: off})
}

// NewArrayOptions returns an Array of n zero elements, placed as opts says.
func NewArrayOptions[T ctypes.Scalar](n int, opts *Options) (*Array[T], error) {
	o, b, err := build[T](KindArray, n, opts)
	if err != nil {
		return nil, err
	}
	publish(b, o.off)
	return bindArray[T](o, b), nil
}

// AttachArray returns the Array placed at offset off of mem, after
// validating its header as AttachValue does; its length comes from the
// header.
func AttachArray[T ctypes.Scalar](mem Memory, off int) (*Array[T], error) {
	o, b, err := attach[T](mem, off, KindArray)
	if err != nil {
		return nil, err
	}
	return bindArray[T](o, b), nil
}

// OpenArray opens the Array ref refers to, as OpenValue does.
func OpenArray[T ctypes.Scalar](ref Ref) (*Array[T], error) {
	o, b, err := open[T](ref, KindArray)
	if err != nil {
		return nil, err
	}
	return bindArray[T](o, b), nil
}

func bindArray[T ctypes.Scalar](o object, b []byte) *Array[T] {
	return &Array[T]{
		obj:    o,
		mu:     view[locks.Mutex](b[o.off+HeaderSize:]),
		s:      slice[T](b[o.off+syncDataOff:o.off+o.size], o.n),
		isBool: isBool[T](),
	}
}

// Len returns the number of elements, fixed when the Array was made (0
// after Close).
func (a *Array[T]) Len() int { return len(a.s) }

// At returns element i, read atomically. It panics if i is out of range.
func (a *Array[T]) At(i int) T { return loadAtomic(&a.s[i], a.isBool) }

// Set sets element i to x, written atomically. It panics if i is out of
// range.
func (a *Array[T]) Set(i int, x T) { storeAtomic(&a.s[i], x) }

// Slice returns the elements in shared memory, without copying: writes
// through it are seen by every process, and it sees theirs. Accesses
// through it are plain memory accesses: use it while holding the lock, with
// every process that writes the elements holding it too. The slice is
// valid until Close.
func (a *Array[T]) Slice() []T { return a.s }

// Lock locks the Array's lock, as Value.Lock.
func (a *Array[T]) Lock() { a.mu.Lock() }

// Unlock unlocks the Array's lock, as Value.Unlock.
func (a *Array[T]) Unlock() { a.mu.Unlock() }

// Mutex returns the Array's lock itself, as Value.Mutex.
func (a *Array[T]) Mutex() *locks.Mutex { return a.mu }

// Ref returns a reference another process can open with OpenArray.
func (a *Array[T]) Ref() (Ref, error) { return a.obj.ref() }

// File returns a new descriptor of the Array's segment, as Value.File.
func (a *Array[T]) File() (*os.File, error) { return a.obj.file() }

// Close releases the Array as Value.Close does. Slices it returned become
// invalid: with the segment unmapped, touching them crashes the process.
func (a *Array[T]) Close() error {
	a.mu, a.s = nil, nil
	return a.obj.close()
}

// Unlink removes the name of the segment the Array owns, as Value.Unlink.
func (a *Array[T]) Unlink() error { return a.obj.unlink() }

// RawArray is a shared array of n elements of type T without a lock:
// Python's multiprocessing.RawArray.
//
// Memory layout (RawArraySize[T](n) = 32 + roundup(n*s, 8) bytes for
// elements of s bytes, 8-byte aligned):
//
//	offset size field
//	0      32   header    kind 4, length n, data offset 32, lock kind 0
//	32     n*s  elements  a C array: element i at 32 + i*s
//	32+n*s pad  zero, up to a multiple of 8
//
// At, Set and Slice are plain memory accesses, as fast as a Go slice's:
// nothing synchronizes them. Processes that share a RawArray order their
// accesses by other means (a lock of their own, an Event, a Barrier, a
// process's exit), or use an Array.
type RawArray[T ctypes.Scalar] struct {
	obj    object
	s      []T
	isBool bool
}

// NewRawArray returns a RawArray of n zero elements, in a new anonymous
// segment that it owns.
func NewRawArray[T ctypes.Scalar](n int) (*RawArray[T], error) {
	return NewRawArrayOptions[T](n, nil)
}

// NewRawArrayCode is NewRawArray recording the Python type code code,
// which must fit T (CheckCode).
func NewRawArrayCode[T ctypes.Scalar](code string, n int) (*RawArray[T], error) {
	return NewRawArrayOptions[T](n, &Options{Code: code})
}

// PlaceRawArray places a RawArray of n zero elements at offset off of mem,
// overwriting the RawArraySize[T](n) bytes there. The RawArray does not own
// mem.
func PlaceRawArray[T ctypes.Scalar](mem Memory, off int, n int) (*RawArray[T], error) {
	return NewRawArrayOptions[T](n, &Options{In: mem, Offset: off})
}

// NewRawArrayOptions returns a RawArray of n zero elements, placed as opts
// says.
func NewRawArrayOptions[T ctypes.Scalar](n int, opts *Options) (*RawArray[T], error) {
	o, b, err := build[T](KindRawArray, n, opts)
	if err != nil {
		return nil, err
	}
	publish(b, o.off)
	return bindRawArray[T](o, b), nil
}

// AttachRawArray returns the RawArray placed at offset off of mem, after
// validating its header as AttachValue does.
func AttachRawArray[T ctypes.Scalar](mem Memory, off int) (*RawArray[T], error) {
	o, b, err := attach[T](mem, off, KindRawArray)
	if err != nil {
		return nil, err
	}
	return bindRawArray[T](o, b), nil
}

// OpenRawArray opens the RawArray ref refers to, as OpenValue does.
func OpenRawArray[T ctypes.Scalar](ref Ref) (*RawArray[T], error) {
	o, b, err := open[T](ref, KindRawArray)
	if err != nil {
		return nil, err
	}
	return bindRawArray[T](o, b), nil
}

func bindRawArray[T ctypes.Scalar](o object, b []byte) *RawArray[T] {
	return &RawArray[T]{
		obj:    o,
		s:      slice[T](b[o.off+rawDataOff:o.off+o.size], o.n),
		isBool: isBool[T](),
	}
}

// Len returns the number of elements (0 after Close).
func (a *RawArray[T]) Len() int { return len(a.s) }

// At returns element i. It panics if i is out of range.
func (a *RawArray[T]) At(i int) T { return normBool(a.s[i], a.isBool) }

// Set sets element i to x. It panics if i is out of range.
func (a *RawArray[T]) Set(i int, x T) { a.s[i] = x }

// Slice returns the elements in shared memory, without copying, as
// Array.Slice. It is valid until Close.
func (a *RawArray[T]) Slice() []T { return a.s }

// Ref returns a reference another process can open with OpenRawArray.
func (a *RawArray[T]) Ref() (Ref, error) { return a.obj.ref() }

// File returns a new descriptor of the RawArray's segment, as Value.File.
func (a *RawArray[T]) File() (*os.File, error) { return a.obj.file() }

// Close releases the RawArray as Value.Close does; slices it returned
// become invalid.
func (a *RawArray[T]) Close() error {
	a.s = nil
	return a.obj.close()
}

// Unlink removes the name of the segment the RawArray owns, as
// Value.Unlink.
func (a *RawArray[T]) Unlink() error { return a.obj.unlink() }
