package rawarray

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/release"
)

// This file holds the package's only unsafe code: single atomic accesses to
// an element of any scalar type T. sync/atomic works on sized unsigned
// words, and a type parameter cannot be converted to one (bool is in the
// type set), so the bits are reinterpreted in place. Nothing here computes
// an address from a number read from shared memory.
//
// Elements of 8 and 4 bytes use the 64- and 32-bit atomics. Elements of 1
// and 2 bytes, for which Go has no atomics, go through the aligned 4-byte
// word that contains them: a load of the word, or a compare-and-swap loop
// that replaces only the element's bytes, so a neighbour written at the
// same time by anyone (with atomics or plain stores) is never lost.

// The race detector does not see atomics on mapped memory, only on the Go
// heap; loadAtomic and storeAtomic annotate each access (internal/race), so
// that a Store in one goroutine and the Load that reads it in another are
// ordered for the detector wherever the element lives, as they are in
// fact. Without -race the annotations compile to nothing.

// bigEndian is the platform's byte order, which decides where in a word an
// element's bytes are.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// loadAtomic returns *p, read with one atomic access. When isBool, a byte
// other than 0 or 1 (a peer's garbage) reads as true, never as a bool Go
// code would misbehave on.
//
// Preconditions (established by ctypes.View/Slice and the layout):
//   - p is aligned to Sizeof(T) and points into mapped memory;
//   - when Sizeof(T) < 4, the 4-byte-aligned word containing *p lies in the
//     same object: data areas start 8-aligned and are padded to a multiple
//     of 8.
func loadAtomic[T ctypes.Scalar](p *T, isBool bool) (x T) {
	switch unsafe.Sizeof(x) {
	case 8:
		w := atomic.LoadUint64((*uint64)(unsafe.Pointer(p)))
		x = *(*T)(unsafe.Pointer(&w))
	case 4:
		w := atomic.LoadUint32((*uint32)(unsafe.Pointer(p)))
		x = *(*T)(unsafe.Pointer(&w))
	default:
		x = loadSmall(p, isBool)
	}
	race.Acquire(p)
	return x
}

// loadSmall is loadAtomic for 1- and 2-byte elements.
func loadSmall[T ctypes.Scalar](p *T, isBool bool) T {
	if unsafe.Sizeof(*p) == 2 {
		wp, shift := containingWord(unsafe.Pointer(p), 2)
		h := uint16(atomic.LoadUint32(wp) >> shift)
		return *(*T)(unsafe.Pointer(&h))
	}
	wp, shift := containingWord(unsafe.Pointer(p), 1)
	b := uint8(atomic.LoadUint32(wp) >> shift)
	if isBool && b > 1 {
		b = 1
	}
	return *(*T)(unsafe.Pointer(&b))
}

// storeAtomic sets *p to v with one atomic access. Preconditions: those of
// loadAtomic.
func storeAtomic[T ctypes.Scalar](p *T, v T) {
	race.Release(p)
	switch unsafe.Sizeof(v) {
	case 8:
		release.Store64((*uint64)(unsafe.Pointer(p)), *(*uint64)(unsafe.Pointer(&v)))
	case 4:
		release.Store32((*uint32)(unsafe.Pointer(p)), *(*uint32)(unsafe.Pointer(&v)))
	default:
		storeSmall(p, v)
	}
}

// storeSmall is storeAtomic for 1- and 2-byte elements.
func storeSmall[T ctypes.Scalar](p *T, v T) {
	if unsafe.Sizeof(v) == 2 {
		wp, shift := containingWord(unsafe.Pointer(p), 2)
		storeIn(wp, shift, 0xffff, uint32(*(*uint16)(unsafe.Pointer(&v))))
		return
	}
	wp, shift := containingWord(unsafe.Pointer(p), 1)
	storeIn(wp, shift, 0xff, uint32(*(*uint8)(unsafe.Pointer(&v))))
}

// normBool returns x, or when isBool and x's byte is neither 0 nor 1 (a
// peer's garbage), true. For elements wider than a byte it compiles to
// nothing.
func normBool[T ctypes.Scalar](x T, isBool bool) T {
	if unsafe.Sizeof(x) != 1 || !isBool {
		return x
	}
	b := *(*uint8)(unsafe.Pointer(&x))
	if b > 1 {
		b = 1
	}
	return *(*T)(unsafe.Pointer(&b))
}

// containingWord returns the aligned 4-byte word holding the size-byte
// element at p, and the shift that brings the element to the word's low
// bits.
func containingWord(p unsafe.Pointer, size uintptr) (*uint32, uint) {
	addr := uintptr(p)
	inWord := addr & 3
	// p and the word are in the same allocation (see loadAtomic); the
	// subtraction keeps the pointer's provenance, which checkptr verifies.
	wp := (*uint32)(unsafe.Add(p, -int(inWord)))
	if bigEndian {
		return wp, uint(4-size-inWord) * 8
	}
	return wp, uint(inWord) * 8
}

// storeIn replaces the bits mask<<shift of *wp with v<<shift.
func storeIn(wp *uint32, shift uint, mask, v uint32) {
	for {
		old := atomic.LoadUint32(wp)
		if atomic.CompareAndSwapUint32(wp, old, old&^(mask<<shift)|v<<shift) {
			return
		}
	}
}
