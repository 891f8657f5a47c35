package rawarray

import (
	"fmt"
	"math"
	"reflect"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
)

// Kind is the kind of object a header describes.
type Kind uint8

// The kinds, as stored in the header's kind byte. Zero is no kind.
const (
	KindValue    Kind = 1 // Value: one element and a lock
	KindRawValue Kind = 2 // RawValue: one element
	KindArray    Kind = 3 // Array: n elements and a lock
	KindRawArray Kind = 4 // RawArray: n elements
)

var kindNames = [...]string{KindValue: "Value", KindRawValue: "RawValue", KindArray: "Array", KindRawArray: "RawArray"}

// String returns the kind's type name ("Value", "RawArray", ...).
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText encodes k as its name, so a Ref reads well as JSON.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("rawarray: kind %d: %w", uint8(k), ErrRef)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n != "" && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("rawarray: unknown kind %q: %w", b, ErrRef)
}

func (k Kind) valid() bool   { return k >= KindValue && k <= KindRawArray }
func (k Kind) locked() bool  { return k == KindValue || k == KindArray }
func (k Kind) isArray() bool { return k == KindArray || k == KindRawArray }

func (k Kind) dataOff() int {
	if k.locked() {
		return syncDataOff
	}
	return rawDataOff
}

func (k Kind) lockKind() byte {
	if k.locked() {
		return lockMutex
	}
	return lockNone
}

// The layout, version 1. Every object starts with a 32-byte header; a
// synchronized object (Value, Array) follows it with a 24-byte lock slot;
// the data comes next, padded to a multiple of 8 bytes. Objects start at
// multiples of Align. All fields are in the platform's native byte order.
// Each type's documentation draws its layout.
const (
	// Align is the alignment of every object: place objects at offsets
	// that are multiples of Align (in a segment, whose mapping starts
	// page-aligned; in other memory, at addresses that are).
	Align = 8

	// HeaderSize is the size of the header that starts every object.
	HeaderSize = 32

	// ValueSize is the size of a Value of any element type.
	ValueSize = syncDataOff + slotSize
	// RawValueSize is the size of a RawValue of any element type.
	RawValueSize = rawDataOff + slotSize

	magic   = 0x41524853 // "SHRA" in little-endian memory order
	version = 1

	lockSlotSize = 24 // a locks.Mutex (16 bytes) and 8 reserved bytes
	syncDataOff  = HeaderSize + lockSlotSize
	rawDataOff   = HeaderSize
	slotSize     = 8 // a value's slot: the largest scalar, and Align

	lockNone  = 0 // raw objects
	lockMutex = 1 // a locks.Mutex at offset HeaderSize
)

// header is the first HeaderSize bytes of every object:
//
//	offset size field
//	0      4    magic     0x41524853 ("SHRA" on little-endian machines);
//	                      written last, atomically: it publishes the rest
//	4      2    version   layout version, 1
//	6      1    kind      1 Value, 2 RawValue, 3 Array, 4 RawArray
//	7      1    code      Python type code of the elements, ASCII ('i', 'd', ...)
//	8      2    elemSize  element size in bytes (sizeof the code's C type)
//	10     1    lockKind  0 none (raw kinds), 1 locks.Mutex at offset 32
//	11     1    flags     reserved, zero
//	12     4    dataOff   offset of the first element from the header: 56
//	                      with a lock, 32 without
//	16     8    length    element count; 1 for values
//	24     8    reserved  zero
//
// Python reads it with struct.unpack_from("=IHBcHBBIQQ", buf, offset).
// Everything but the lock and the data is written once, when the object is
// placed, and only read afterwards; readers copy it once and validate the
// copy, so a peer that rewrites it cannot make them index out of bounds.
type header struct {
	magic    uint32
	version  uint16
	kind     uint8
	code     uint8
	elemSize uint16
	lockKind uint8
	flags    uint8
	dataOff  uint32
	length   uint64
	reserved uint64
}

// ArraySize returns the size in bytes of an Array of n elements of T,
// header and lock included. It panics if n is negative or the size
// overflows an int.
func ArraySize[T ctypes.Scalar](n int) int { return mustSize(KindArray, sizeOf[T](), n) }

// RawArraySize returns the size in bytes of a RawArray of n elements of T,
// header included. It panics if n is negative or the size overflows an int.
func RawArraySize[T ctypes.Scalar](n int) int { return mustSize(KindRawArray, sizeOf[T](), n) }

func sizeOf[T ctypes.Scalar]() int { return int(reflect.TypeFor[T]().Size()) }

func mustSize(k Kind, elemSize, n int) int {
	size, err := objectSize(k, elemSize, n)
	if err != nil {
		panic(err.Error())
	}
	return size
}

// objectSize is the size of an object of kind k holding n elements of
// elemSize bytes, or ErrLength.
func objectSize(k Kind, elemSize, n int) (int, error) {
	if !k.isArray() {
		return k.dataOff() + slotSize, nil
	}
	if n < 0 {
		return 0, fmt.Errorf("rawarray: %s of length %d: %w", k, n, ErrLength)
	}
	if n > (math.MaxInt-k.dataOff()-(Align-1))/elemSize {
		return 0, fmt.Errorf("rawarray: %s of %d elements of %d bytes: size overflows int: %w", k, n, elemSize, ErrLength)
	}
	return k.dataOff() + roundUp(n*elemSize), nil
}

func roundUp(n int) int { return (n + Align - 1) &^ (Align - 1) }

// CheckCode returns the C type named by the Python type code, if its Go
// representation is T's: code "" stands for T's own code
// (ctypes.TypeOf[T]). Several codes can fit one T: "q" and "l" both fit
// int64 (and int) on 64-bit Linux, "c" and "B" fit uint8. An unknown code,
// or one whose C type is not T's (by size, signedness, integer or float,
// bool), is an error wrapping ErrType.
//
// The codes and the Go types they fit, on 64-bit Linux:
//
//	c char         uint8          B unsigned char   uint8
//	b signed char  int8           ? _Bool           bool
//	h short        int16          H unsigned short  uint16
//	i int          int32          I unsigned int    uint32
//	l long         int64, int     L unsigned long   uint64, uint, uintptr
//	q long long    int64, int     Q unsigned long long uint64, uint, uintptr
//	f float        float32        d double          float64
//
// Named types count by their underlying type.
func CheckCode[T ctypes.Scalar](code string) (ctypes.Type, error) {
	own := ctypes.TypeOf[T]()
	if code == "" {
		return own, nil
	}
	t, err := ctypes.Lookup(code)
	if err != nil {
		return ctypes.Type{}, fmt.Errorf("rawarray: %w: %w", ErrType, err)
	}
	if t.GoType != own.GoType {
		return ctypes.Type{}, fmt.Errorf("rawarray: type code %q is C %s (Go %s), not %s: %w",
			code, t.CName, t.GoType, reflect.TypeFor[T](), ErrType)
	}
	return t, nil
}

// Memory is memory an object can be placed in: a *shm.Segment, or any
// other memory that stays put while the object is used, such as a
// heap-allocated []byte behind a one-method type. Only objects in a
// *shm.Segment have a Ref.
type Memory interface {
	// Bytes is the whole memory; nil once it is gone (a closed segment).
	Bytes() []byte
}

// readOnly reports whether mem says it is mapped read-only (shm.Segment
// does).
func readOnly(mem Memory) bool {
	ro, ok := mem.(interface{ ReadOnly() bool })
	return ok && ro.ReadOnly()
}

// region returns mem's bytes and checks that off is usable for an object:
// inside, aligned, and writable if write. The caller checks the object's
// extent.
func region(mem Memory, off int, write bool) ([]byte, error) {
	if mem == nil {
		return nil, fmt.Errorf("rawarray: nil memory: %w", ErrBounds)
	}
	b := mem.Bytes()
	switch {
	case b == nil:
		return nil, fmt.Errorf("rawarray: memory has no bytes: %w", ErrClosed)
	case write && readOnly(mem):
		return nil, fmt.Errorf("rawarray: %w", ErrReadOnly)
	case off < 0 || off > len(b):
		return nil, fmt.Errorf("rawarray: offset %d outside %d bytes of memory: %w", off, len(b), ErrBounds)
	case off%Align != 0 || ctypes.AlignOffset(b[off:], Align) != 0:
		return nil, fmt.Errorf("rawarray: offset %d is not %d-byte aligned: %w", off, Align, ErrMisaligned)
	case len(b)-off < HeaderSize:
		return nil, fmt.Errorf("rawarray: offset %d: %d bytes left, a header needs %d: %w", off, len(b)-off, HeaderSize, ErrBounds)
	}
	return b, nil
}

// headerAt views the header at b[off:]; region has checked size and
// alignment, so this cannot fail.
func headerAt(b []byte, off int) *header {
	h, err := ctypes.View[header](b[off:])
	if err != nil {
		panic("rawarray: internal error: " + err.Error())
	}
	return h
}

// Info describes an object as its header does.
type Info struct {
	Kind       Kind   // what the object is
	Code       string // Python type code of the elements
	ElemSize   int    // element size in bytes
	Len        int    // element count, 1 for values
	DataOffset int    // offset of element 0 from the object's start
	Size       int    // bytes the object occupies, padding included
}

// Inspect reads and validates the header of the object at off in mem and
// describes it. It fails as the Attach functions do when the header is
// missing or invalid, but accepts any kind and type, and read-only memory.
func Inspect(mem Memory, off int) (Info, error) {
	b, err := region(mem, off, false)
	if err != nil {
		return Info{}, err
	}
	info, _, err := readHeader(b, off)
	return info, err
}

// readHeader validates the header at b[off:] (region has checked off) and
// returns the object's description and its type.
func readHeader(b []byte, off int) (Info, ctypes.Type, error) {
	h := headerAt(b, off)
	if m := atomic.LoadUint32(&h.magic); m != magic {
		return Info{}, ctypes.Type{}, fmt.Errorf("rawarray: at offset %d: magic %#08x, want %#08x: %w", off, m, magic, ErrBadMagic)
	}
	hv := *h // read the peer-written header once; validate the copy
	bad := func(format string, args ...any) (Info, ctypes.Type, error) {
		return Info{}, ctypes.Type{}, fmt.Errorf("rawarray: header at offset %d: "+format, append([]any{off}, args...)...)
	}
	if hv.version != version {
		return bad("version %d, this package reads %d: %w", hv.version, version, ErrVersion)
	}
	k := Kind(hv.kind)
	if !k.valid() {
		return bad("kind %d: %w", hv.kind, ErrCorrupt)
	}
	t, err := ctypes.Lookup(string([]byte{hv.code}))
	if err != nil {
		return bad("%w: %w", ErrType, err)
	}
	switch {
	case int(hv.elemSize) != t.Size:
		return bad("element size %d, type code %q is %d bytes: %w", hv.elemSize, t.Code, t.Size, ErrCorrupt)
	case hv.lockKind != k.lockKind():
		return bad("lock kind %d for a %s: %w", hv.lockKind, k, ErrCorrupt)
	case int(hv.dataOff) != k.dataOff():
		return bad("data offset %d for a %s, want %d: %w", hv.dataOff, k, k.dataOff(), ErrCorrupt)
	case hv.flags != 0 || hv.reserved != 0:
		return bad("reserved bytes are not zero: %w", ErrCorrupt)
	case !k.isArray() && hv.length != 1:
		return bad("length %d for a %s: %w", hv.length, k, ErrCorrupt)
	}
	avail := len(b) - off - k.dataOff()
	if avail < 0 || hv.length > uint64(avail/t.Size) {
		return bad("%s of %d elements of %d bytes does not fit in %d bytes: %w",
			k, hv.length, t.Size, len(b)-off, ErrBounds)
	}
	n := int(hv.length)
	size, err := objectSize(k, t.Size, n)
	if err != nil || size > len(b)-off {
		// Only the padding can overflow what remains; still out of bounds.
		return bad("%s of %d elements of %d bytes with padding does not fit in %d bytes: %w",
			k, n, t.Size, len(b)-off, ErrBounds)
	}
	return Info{Kind: k, Code: t.Code, ElemSize: t.Size, Len: n, DataOffset: k.dataOff(), Size: size}, t, nil
}

// writeHeader unpublishes whatever is at b[off:], zeroes the object's
// bytes and writes its header without the magic; publish writes that.
func writeHeader(b []byte, off int, k Kind, t ctypes.Type, n, size int) {
	h := headerAt(b, off)
	atomic.StoreUint32(&h.magic, 0)
	clear(b[off+4 : off+size])
	h.version = version
	h.kind = uint8(k)
	h.code = t.Code[0]
	h.elemSize = uint16(t.Size)
	h.lockKind = k.lockKind()
	h.dataOff = uint32(k.dataOff())
	h.length = uint64(n)
}

// publish makes the object at b[off:] visible to Attach: the atomic store
// of the magic orders every write of the placement before any Attach that
// reads it.
func publish(b []byte, off int) {
	atomic.StoreUint32(&headerAt(b, off).magic, magic)
}
