package ctypes

import (
	"fmt"
	"reflect"
	"strconv"
)

// Type describes a C scalar type and the Python array/struct type code that
// names it, with its size and alignment on the running platform.
//
// Size and Align are taken from GoType, the Go type with the same
// representation, so they are right for whatever platform the program was
// built for; Align is the alignment of the type as a struct member, which is
// what struct layout uses. The package targets 64-bit Linux (LP64: amd64,
// arm64, ...); the tests check every entry against gcc where it is installed.
type Type struct {
	Code   string       // Python type code, e.g. "i"
	CName  string       // C type name, e.g. "unsigned long long"
	Size   int          // sizeof in bytes
	Align  int          // alignment in bytes as a struct member
	GoType reflect.Type // Go type with the same size, alignment and encoding
}

// Kind reports the kind of t's Go type.
func (t Type) Kind() reflect.Kind { return t.GoType.Kind() }

// String returns the C name of t.
func (t Type) String() string { return t.CName }

// class groups types whose values read the same way: a Go struct field can
// stand for a C field of the same size and class (see CheckLayout).
type class uint8

const (
	classChar     class = iota // C char: a byte, signed or not
	classSigned                // signed integers
	classUnsigned              // unsigned integers
	classFloat                 // IEEE 754 binary floating point
	classBool                  // _Bool: one byte holding 0 or 1
)

func (t Type) class() class {
	switch t.Code {
	case "c":
		return classChar
	case "b", "h", "i", "l", "q":
		return classSigned
	case "B", "H", "I", "L", "Q":
		return classUnsigned
	case "f", "d":
		return classFloat
	}
	return classBool
}

// cLong and cULong are the Go types of C long and unsigned long: on Linux a
// long is as wide as a pointer (8 bytes on LP64, 4 on ILP32).
var cLong, cULong = func() (reflect.Type, reflect.Type) {
	if strconv.IntSize == 64 {
		return reflect.TypeFor[int64](), reflect.TypeFor[uint64]()
	}
	return reflect.TypeFor[int32](), reflect.TypeFor[uint32]()
}()

// types is the table behind Lookup and Types, in the order of the package
// docs. It is never handed out, so callers cannot change it.
var types = []Type{
	newType("c", "char", reflect.TypeFor[uint8]()),
	newType("b", "signed char", reflect.TypeFor[int8]()),
	newType("B", "unsigned char", reflect.TypeFor[uint8]()),
	newType("h", "short", reflect.TypeFor[int16]()),
	newType("H", "unsigned short", reflect.TypeFor[uint16]()),
	newType("i", "int", reflect.TypeFor[int32]()),
	newType("I", "unsigned int", reflect.TypeFor[uint32]()),
	newType("l", "long", cLong),
	newType("L", "unsigned long", cULong),
	newType("q", "long long", reflect.TypeFor[int64]()),
	newType("Q", "unsigned long long", reflect.TypeFor[uint64]()),
	newType("f", "float", reflect.TypeFor[float32]()),
	newType("d", "double", reflect.TypeFor[float64]()),
	newType("?", "_Bool", reflect.TypeFor[bool]()),
}

func newType(code, cname string, gt reflect.Type) Type {
	return Type{Code: code, CName: cname, Size: int(gt.Size()), Align: gt.FieldAlign(), GoType: gt}
}

// Lookup returns the type named by a Python array/struct type code, one of
// c b B h H i I l L q Q f d ?. Any other string is an error wrapping
// ErrUnknownCode.
func Lookup(code string) (Type, error) {
	if len(code) == 1 {
		for _, t := range types {
			if t.Code == code {
				return t, nil
			}
		}
	}
	return Type{}, fmt.Errorf("ctypes: type code %q: %w", code, ErrUnknownCode)
}

// mustLookup is Lookup for codes known to be in the table.
func mustLookup(code string) Type {
	t, err := Lookup(code)
	if err != nil {
		panic(err)
	}
	return t
}

// Types returns every type Lookup knows, in the order c b B h H i I l L q Q
// f d ?. The slice is the caller's to keep.
func Types() []Type {
	return append([]Type(nil), types...)
}

// Scalar is the constraint of fixed-size numeric types and bool: the element
// types of shared values and arrays.
//
// int, uint and uintptr are included: their size is fixed for a given
// platform (8 bytes on the 64-bit platforms this package targets), but it is
// not fixed across platforms, so a layout published for other languages
// should prefer the sized types.
type Scalar interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 |
		~int | ~uint | ~uintptr | ~float32 | ~float64 | ~bool
}

// TypeOf returns the C type matching the Go scalar type T, by T's kind:
//
//	int8 b    int16 h    int32 i    int64 q    int  l    float32 f
//	uint8 B   uint16 H   uint32 I   uint64 Q   uint L    float64 d
//	uintptr L            bool ?
//
// int, uint and uintptr map to C long and unsigned long, which are as wide as
// a pointer on Linux. byte is uint8, so it maps to "B", not "c"; both are one
// unsigned byte in Go's view. The returned Type's GoType is the canonical Go
// type of the code, which may differ from T but has the same size, alignment
// and encoding.
func TypeOf[T Scalar]() Type {
	t, _ := typeOfKind(reflect.TypeFor[T]().Kind())
	return t
}

// typeOfKind maps a Go kind to its C type; ok is false for kinds with no
// scalar C equivalent.
func typeOfKind(k reflect.Kind) (t Type, ok bool) {
	var code string
	switch k {
	case reflect.Int8:
		code = "b"
	case reflect.Uint8:
		code = "B"
	case reflect.Int16:
		code = "h"
	case reflect.Uint16:
		code = "H"
	case reflect.Int32:
		code = "i"
	case reflect.Uint32:
		code = "I"
	case reflect.Int64:
		code = "q"
	case reflect.Uint64:
		code = "Q"
	case reflect.Int:
		code = "l"
	case reflect.Uint, reflect.Uintptr:
		code = "L"
	case reflect.Float32:
		code = "f"
	case reflect.Float64:
		code = "d"
	case reflect.Bool:
		code = "?"
	default:
		return Type{}, false
	}
	return mustLookup(code), true
}
