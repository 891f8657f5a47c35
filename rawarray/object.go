package rawarray

import (
	"fmt"
	"os"
	"reflect"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// Options tune the New…Options constructors. A nil *Options means the zero
// value: the element type's own code, in a new anonymous segment the object
// owns.
type Options struct {
	// Code is the Python type code recorded for the elements; it must fit
	// the element type (see CheckCode). Zero ("") means T's own code, as
	// ctypes.TypeOf[T] gives it.
	Code string

	// Name, if set, makes the object's own segment a named one, created
	// exclusively under this name in /dev/shm (an error matching
	// fs.ErrExist when taken), so that other processes, Python's among
	// them, can open it by name. Zero means an anonymous (memfd) segment,
	// shared by passing its descriptor. The name stays until Unlink.
	Name string

	// Shm tunes the object's own segment (mode, prefaulting, reservation);
	// nil means shm's defaults.
	Shm *shm.Options

	// In, if set, places the object in this memory at Offset instead of in
	// a segment of its own; the object does not own the memory, and Name
	// and Shm must be zero. Zero (nil) means an own segment.
	In Memory

	// Offset is where in In the object starts, a multiple of Align. It
	// must be zero when In is nil.
	Offset int
}

// object is the part every handle shares: where the object lives and what
// the handle owns.
type object struct {
	mem   Memory       // nil once closed
	seg   *shm.Segment // mem as a segment, or nil
	owned bool         // Close closes seg
	off   int
	kind  Kind
	typ   ctypes.Type
	n     int
	size  int
}

// build places a new object of kind k with n elements of T as opts say,
// leaving it unpublished: the caller writes the initial data, then calls
// publish. It returns the memory's bytes; the object is b[o.off:o.off+o.size].
func build[T ctypes.Scalar](k Kind, n int, opts *Options) (o object, b []byte, err error) {
	if opts == nil {
		opts = &Options{}
	}
	t, err := CheckCode[T](opts.Code)
	if err != nil {
		return object{}, nil, err
	}
	size, err := objectSize(k, t.Size, n)
	if err != nil {
		return object{}, nil, err
	}
	o = object{kind: k, typ: t, n: n, size: size}
	if opts.In != nil {
		if opts.Name != "" || opts.Shm != nil {
			return object{}, nil, fmt.Errorf("rawarray: Options.In with Name or Shm: %w", ErrOptions)
		}
		o.mem, o.off = opts.In, opts.Offset
		o.seg, _ = opts.In.(*shm.Segment)
	} else {
		if opts.Offset != 0 {
			return object{}, nil, fmt.Errorf("rawarray: Options.Offset %d without Options.In: %w", opts.Offset, ErrOptions)
		}
		var seg *shm.Segment
		if opts.Name != "" {
			seg, err = shm.Create(opts.Name, int64(size), opts.Shm)
		} else {
			seg, err = shm.AnonymousOptions(int64(size), opts.Shm)
		}
		if err != nil {
			return object{}, nil, fmt.Errorf("rawarray: new %s: %w", k, err)
		}
		o.mem, o.seg, o.owned = seg, seg, true
	}
	b, err = region(o.mem, o.off, true)
	if err == nil && size > len(b)-o.off {
		err = fmt.Errorf("rawarray: %s of %d bytes at offset %d: %d bytes left: %w", k, size, o.off, len(b)-o.off, ErrBounds)
	}
	if err != nil {
		o.discard()
		return object{}, nil, err
	}
	writeHeader(b, o.off, k, t, n, size)
	return o, b, nil
}

// discard undoes build's segment creation after a failure.
func (o *object) discard() {
	if o.owned {
		_ = o.seg.Unlink()
		_ = o.seg.Close()
	}
}

// attach validates the object of kind k with elements of T at off in mem.
func attach[T ctypes.Scalar](mem Memory, off int, k Kind) (object, []byte, error) {
	b, err := region(mem, off, true)
	if err != nil {
		return object{}, nil, err
	}
	info, t, err := readHeader(b, off)
	if err != nil {
		return object{}, nil, err
	}
	if info.Kind != k {
		return object{}, nil, fmt.Errorf("rawarray: at offset %d: a %s, not a %s: %w", off, info.Kind, k, ErrKind)
	}
	if t.GoType != ctypes.TypeOf[T]().GoType {
		return object{}, nil, fmt.Errorf("rawarray: at offset %d: a %s of C %s (code %q), not of %s: %w",
			off, k, t.CName, t.Code, reflect.TypeFor[T](), ErrType)
	}
	seg, _ := mem.(*shm.Segment)
	return object{mem: mem, seg: seg, off: off, kind: k, typ: t, n: info.Len, size: info.Size}, b, nil
}

// open maps the segment ref names and attaches the object there; the
// object owns the mapping.
func open[T ctypes.Scalar](ref Ref, k Kind) (object, []byte, error) {
	if ref.Kind != k {
		return object{}, nil, fmt.Errorf("rawarray: open %s: the reference is to a %s: %w", k, ref.Kind, ErrKind)
	}
	if _, err := CheckCode[T](ref.Code); err != nil {
		return object{}, nil, err
	}
	seg, err := ref.segment()
	if err != nil {
		return object{}, nil, err
	}
	o, b, err := attach[T](seg, int(ref.Offset), k)
	if err == nil {
		err = ref.matches(o)
	}
	if err != nil {
		_ = seg.Close()
		return object{}, nil, err
	}
	o.owned = true
	return o, b, nil
}

// segment maps the segment the reference names: by its segment reference,
// by name, or from a duplicate of its descriptor (the descriptor stays the
// caller's), in that order (see Ref).
func (r Ref) segment() (*shm.Segment, error) {
	if r.Offset < 0 || r.Offset != int64(int(r.Offset)) {
		return nil, fmt.Errorf("rawarray: reference offset %d: %w", r.Offset, ErrBounds)
	}
	if r.Fd < 0 && r.Seg.ID != 0 {
		// The segment's own reference: this process's mapping, one whose
		// descriptor a launcher passed and registered (shm.Adopt, as
		// package fork does), or else the segment's name. It checks the
		// size, and works after the name was unlinked.
		seg, err := shm.OpenRef(r.Seg, nil)
		if err != nil {
			return nil, fmt.Errorf("rawarray: open %s: %w", r.Kind, err)
		}
		return seg, nil
	}
	if r.Name != "" {
		seg, err := shm.Open(r.Name, nil)
		if err != nil {
			return nil, fmt.Errorf("rawarray: open %s: %w", r.Kind, err)
		}
		return seg, nil
	}
	if r.Fd < 0 {
		return nil, fmt.Errorf("rawarray: open %s: the reference has neither a segment name nor a descriptor (set Ref.Fd to the inherited descriptor's number): %w", r.Kind, ErrRef)
	}
	fd, err := unix.FcntlInt(uintptr(r.Fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rawarray: open %s: descriptor %d: %w", r.Kind, r.Fd, err)
	}
	seg, err := shm.FromFd(fd, nil)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("rawarray: open %s: %w", r.Kind, err)
	}
	return seg, nil
}

// matches checks the object found where r points against r's geometry.
func (r Ref) matches(o object) error {
	switch {
	case r.Code != "" && r.Code != o.typ.Code:
		return fmt.Errorf("rawarray: reference says type code %q, the %s has %q: %w", r.Code, o.kind, o.typ.Code, ErrRef)
	case r.ElemSize != 0 && r.ElemSize != o.typ.Size:
		return fmt.Errorf("rawarray: reference says %d-byte elements, the %s has %d: %w", r.ElemSize, o.kind, o.typ.Size, ErrRef)
	case r.Len != o.n:
		return fmt.Errorf("rawarray: reference says length %d, the %s has %d: %w", r.Len, o.kind, o.n, ErrRef)
	}
	return nil
}

// ref describes the object for another process.
func (o *object) ref() (Ref, error) {
	if o.mem == nil {
		return Ref{}, fmt.Errorf("rawarray: ref of a %s: %w", o.kind, ErrClosed)
	}
	if o.seg == nil {
		return Ref{}, fmt.Errorf("rawarray: ref of a %s: %w", o.kind, ErrNoRef)
	}
	return Ref{
		Kind:     o.kind,
		Code:     o.typ.Code,
		ElemSize: o.typ.Size,
		Len:      o.n,
		Offset:   int64(o.off),
		Name:     o.seg.Name(),
		Fd:       -1,
		Seg:      o.seg.Ref(),
	}, nil
}

// file returns a new descriptor of the object's segment.
func (o *object) file() (*os.File, error) {
	if o.mem == nil {
		return nil, fmt.Errorf("rawarray: file of a %s: %w", o.kind, ErrClosed)
	}
	if o.seg == nil {
		return nil, fmt.Errorf("rawarray: file of a %s: %w", o.kind, ErrNoRef)
	}
	f, err := o.seg.Dup()
	if err != nil {
		return nil, fmt.Errorf("rawarray: file of a %s: %w", o.kind, err)
	}
	return f, nil
}

// close drops the handle's memory and closes the segment if it owns it.
func (o *object) close() error {
	if o.mem == nil {
		return nil
	}
	o.mem = nil
	if !o.owned {
		return nil
	}
	if err := o.seg.Close(); err != nil {
		return fmt.Errorf("rawarray: close %s: %w", o.kind, err)
	}
	return nil
}

// unlink removes the name of the segment the object owns; a name already
// gone is an error matching fs.ErrNotExist.
func (o *object) unlink() error {
	if !o.owned || o.seg.Name() == "" {
		return nil
	}
	if err := o.seg.Unlink(); err != nil {
		return fmt.Errorf("rawarray: unlink %s: %w", o.kind, err)
	}
	return nil
}

// isBool reports whether T's values are bools.
func isBool[T ctypes.Scalar]() bool { return reflect.TypeFor[T]().Kind() == reflect.Bool }

// view and slice turn checked object bytes into typed memory; the layout
// guarantees size and alignment, so failure is an internal error.
func view[T any](b []byte) *T {
	p, err := ctypes.View[T](b)
	if err != nil {
		panic("rawarray: internal error: " + err.Error())
	}
	return p
}

func slice[T any](b []byte, n int) []T {
	s, err := ctypes.Slice[T](b, n)
	if err != nil {
		panic("rawarray: internal error: " + err.Error())
	}
	return s
}
