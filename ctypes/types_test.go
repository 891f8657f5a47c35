package ctypes_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
)

func TestLookup(t *testing.T) {
	// Sizes and alignments of LP64 Linux (TestGCCLayouts checks them against
	// the compiler too).
	want := []ctypes.Type{
		{"c", "char", 1, 1, reflect.TypeFor[uint8]()},
		{"b", "signed char", 1, 1, reflect.TypeFor[int8]()},
		{"B", "unsigned char", 1, 1, reflect.TypeFor[uint8]()},
		{"h", "short", 2, 2, reflect.TypeFor[int16]()},
		{"H", "unsigned short", 2, 2, reflect.TypeFor[uint16]()},
		{"i", "int", 4, 4, reflect.TypeFor[int32]()},
		{"I", "unsigned int", 4, 4, reflect.TypeFor[uint32]()},
		{"l", "long", 8, 8, reflect.TypeFor[int64]()},
		{"L", "unsigned long", 8, 8, reflect.TypeFor[uint64]()},
		{"q", "long long", 8, 8, reflect.TypeFor[int64]()},
		{"Q", "unsigned long long", 8, 8, reflect.TypeFor[uint64]()},
		{"f", "float", 4, 4, reflect.TypeFor[float32]()},
		{"d", "double", 8, 8, reflect.TypeFor[float64]()},
		{"?", "_Bool", 1, 1, reflect.TypeFor[bool]()},
	}
	all := ctypes.Types()
	if len(all) != len(want) {
		t.Fatalf("Types() has %d entries, want %d", len(all), len(want))
	}
	for i, w := range want {
		got, err := ctypes.Lookup(w.Code)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", w.Code, err)
		}
		if got != w {
			t.Errorf("Lookup(%q) = %+v, want %+v", w.Code, got, w)
		}
		if all[i] != w {
			t.Errorf("Types()[%d] = %+v, want %+v", i, all[i], w)
		}
		if got.Kind() != w.GoType.Kind() || got.String() != w.CName {
			t.Errorf("Lookup(%q): Kind %v, String %q", w.Code, got.Kind(), got.String())
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, code := range []string{"", "x", "s", "ii", "P", "e", "@", "I "} {
		_, err := ctypes.Lookup(code)
		if !errors.Is(err, ctypes.ErrUnknownCode) {
			t.Fatalf("Lookup(%q) error %v, want ErrUnknownCode", code, err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "ctypes: ") || !strings.Contains(msg, `"`+code+`"`) {
			t.Errorf("Lookup(%q) error %q does not name the code", code, msg)
		}
	}
}

func TestTypesIsACopy(t *testing.T) {
	ctypes.Types()[0].Size = 99
	if got := ctypes.Types()[0].Size; got != 1 {
		t.Fatalf("Types()[0].Size = %d after changing a copy", got)
	}
}

type celsius float64

func TestTypeOf(t *testing.T) {
	for code, got := range map[string]ctypes.Type{
		"b": ctypes.TypeOf[int8](),
		"B": ctypes.TypeOf[byte](),
		"h": ctypes.TypeOf[int16](),
		"H": ctypes.TypeOf[uint16](),
		"i": ctypes.TypeOf[int32](),
		"I": ctypes.TypeOf[uint32](),
		"q": ctypes.TypeOf[int64](),
		"Q": ctypes.TypeOf[uint64](),
		"l": ctypes.TypeOf[int](),
		"L": ctypes.TypeOf[uintptr](),
		"f": ctypes.TypeOf[float32](),
		"d": ctypes.TypeOf[celsius](), // by kind: named types map too
		"?": ctypes.TypeOf[bool](),
	} {
		if got.Code != code {
			t.Errorf("TypeOf for code %q returned %q", code, got.Code)
		}
	}
	if got := ctypes.TypeOf[uint](); got.Code != "L" {
		t.Errorf("TypeOf[uint]() = %q, want L", got.Code)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{ctypes.ErrUnknownCode, ctypes.ErrPointers, ctypes.ErrMisaligned, ctypes.ErrShort,
		ctypes.ErrNegative, ctypes.ErrLayout, ctypes.ErrUnsupported, ctypes.ErrMismatch, ctypes.ErrFormat}
	for i, a := range errs {
		for j, b := range errs {
			if errors.Is(a, b) != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, !(i == j))
			}
		}
	}
}
