package ctypes

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
)

// View returns a pointer to a T stored at mem[0:]. Writes through the
// pointer change mem and reads see mem's current bytes, in the platform's
// native byte order.
//
// View fails, with errors that name the type and the numbers, when:
//   - T holds Go pointers anywhere (ErrPointers): pointers, unsafe.Pointer,
//     slices, maps, strings, interfaces, chans or funcs, in T itself or in
//     any struct field or array element (arrays of length 0 hold nothing and
//     are allowed);
//   - mem is shorter than T (ErrShort);
//   - mem does not start at a multiple of T's alignment (ErrMisaligned).
//
// Shared memory segments start page-aligned; a []byte of other origin may
// start at any address (see AlignOffset).
//
// A zero-size T occupies no memory: View returns a valid pointer to a T that
// does not refer to mem, and mem is not inspected.
//
// The verdict on T is computed once per type and cached, so a successful
// View costs a cache lookup and a few comparisons, and does not allocate
// (see BenchmarkView). In a hot loop, take the view once and keep it.
func View[T any](mem []byte) (*T, error) {
	t := reflect.TypeFor[T]()
	if err := pointerFree(t); err != nil {
		return nil, err
	}
	if t.Size() == 0 {
		return new(T), nil // does not allocate: zero-size values share one address
	}
	if err := checkMem("View", t, mem, 1); err != nil {
		return nil, err
	}
	return pointerTo[T](mem), nil
}

// Slice returns mem[0:] viewed as n consecutive values of T (len and cap n).
// It fails as View does, and also when n is negative (ErrNegative) or when
// n values of T do not fit in mem, including when their byte size would
// overflow an int (ErrShort).
//
// When n is 0, or T has size zero, Slice returns a non-nil slice of n values
// that does not refer to mem, and mem is not inspected.
func Slice[T any](mem []byte, n int) ([]T, error) {
	t := reflect.TypeFor[T]()
	if err := pointerFree(t); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("ctypes: Slice[%s]: count %d: %w", t, n, ErrNegative)
	}
	if n == 0 || t.Size() == 0 {
		return make([]T, n), nil // does not allocate: the backing array has no bytes
	}
	if err := checkMem("Slice", t, mem, n); err != nil {
		return nil, err
	}
	return sliceAt[T](mem, n), nil
}

// checkMem reports whether mem holds n >= 1 values of the non-zero-size type
// t at a suitably aligned address. op names the caller in error messages.
func checkMem(op string, t reflect.Type, mem []byte, n int) error {
	size := int(t.Size())
	// n > len(mem)/size is n*size > len(mem) without computing the product,
	// which may overflow.
	if n > len(mem)/size {
		if n > math.MaxInt/size {
			return fmt.Errorf("ctypes: %s[%s]: %d values of %d bytes overflow int, %d bytes available: %w",
				op, t, n, size, len(mem), ErrShort)
		}
		return fmt.Errorf("ctypes: %s[%s]: %d bytes needed, %d available: %w",
			op, t, n*size, len(mem), ErrShort)
	}
	align := uintptr(t.Align())
	if off := addressOf(mem) % align; off != 0 {
		return fmt.Errorf("ctypes: %s[%s]: address %#x is %d bytes past a %d-byte boundary: %w",
			op, t, addressOf(mem), off, align, ErrMisaligned)
	}
	return nil
}

// AlignOffset returns the smallest off >= 0 such that &mem[off] is a multiple
// of align, which must be a power of two: the number of bytes to skip to place
// a value with that alignment in mem. It may exceed len(mem); the caller
// checks that what it places there fits.
//
// AlignOffset panics if align is not a positive power of two.
func AlignOffset(mem []byte, align int) int {
	if align <= 0 || align&(align-1) != 0 {
		panic(fmt.Sprintf("ctypes: AlignOffset: alignment %d is not a power of two", align))
	}
	return int(-addressOf(mem) & uintptr(align-1))
}

// verdicts caches pointerFree's answer per type: reflect.Type -> error, nil
// for pointer-free types. Types are few and never change, so entries are
// never removed, and each error is allocated once.
var verdicts sync.Map

// pointerFree returns nil if values of t hold no Go pointers, and otherwise
// an error wrapping ErrPointers that says where the first one is.
func pointerFree(t reflect.Type) error {
	if k := t.Kind(); reflect.Bool <= k && k <= reflect.Complex128 {
		return nil // the numeric kinds and bool are consecutive in reflect.Kind
	}
	if v, ok := verdicts.Load(t); ok {
		err, _ := v.(error)
		return err
	}
	var err error
	if where, what := findPointers(t, ""); what != nil {
		if where == "" {
			err = fmt.Errorf("ctypes: type %s: %w", t, ErrPointers)
		} else {
			err = fmt.Errorf("ctypes: type %s: %s has type %s: %w",
				t, strings.TrimPrefix(where, "."), what, ErrPointers)
		}
	}
	verdicts.Store(t, err)
	return err
}

// findPointers returns the first component of t, by path from t ("" for t
// itself, ".F", ".F[i].G" ...), whose type what is one that holds Go
// pointers, or a nil what if there is none. Types cannot contain themselves
// except through pointers, where the walk stops, so it terminates.
func findPointers(t reflect.Type, path string) (where string, what reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Slice, reflect.Map,
		reflect.String, reflect.Interface, reflect.Chan, reflect.Func:
		return path, t
	case reflect.Array:
		if t.Len() > 0 {
			return findPointers(t.Elem(), path+"[i]")
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if where, what := findPointers(f.Type, path+"."+f.Name); what != nil {
				return where, what
			}
		}
	}
	return "", nil
}

// PointerFree returns nil if values of type t hold no Go pointers (so their
// bytes can be copied into shared memory and back), and otherwise an error
// wrapping ErrPointers that says where the first pointer is.
func PointerFree(t reflect.Type) error { return pointerFree(t) }

// Bytes returns the memory of *p as a byte slice of length
// unsafe.Sizeof(T), for copying a pointer-free value in or out of shared
// memory. It fails with ErrPointers if T holds Go pointers. Writes through
// the slice change *p.
func Bytes[T any](p *T) ([]byte, error) {
	t := reflect.TypeFor[T]()
	if err := pointerFree(t); err != nil {
		return nil, err
	}
	return bytesOf(p), nil
}
