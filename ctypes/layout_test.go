package ctypes_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
)

// offsets returns the offset of each field of l.
func offsets(l ctypes.Layout) []int {
	var out []int
	for _, f := range l.Fields {
		out = append(out, f.Offset)
	}
	return out
}

func mustLayout(t *testing.T, fields ...ctypes.FieldSpec) ctypes.Layout {
	t.Helper()
	l, err := ctypes.StructLayout(fields...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pointLayout returns struct point { short x; short y; }.
func pointLayout(t *testing.T) ctypes.Layout {
	l := mustLayout(t, ctypes.FieldSpec{Name: "x", Code: "h"}, ctypes.FieldSpec{Name: "y", Code: "h"})
	l.Name = "point"
	return l
}

func TestStructLayout(t *testing.T) {
	pt := pointLayout(t)
	point := ctypes.FieldSpec{Name: "pos", Struct: &pt}
	for _, tc := range []struct {
		name        string
		fields      []ctypes.FieldSpec
		offsets     []int
		size, align int
	}{
		{"empty", nil, nil, 0, 1},
		{"char", []ctypes.FieldSpec{{Name: "c", Code: "c"}}, []int{0}, 1, 1},
		{"mix", []ctypes.FieldSpec{
			{Name: "c", Code: "c"}, {Name: "i", Code: "i"}, {Name: "s", Code: "h"},
			{Name: "d", Code: "d"}, {Name: "b", Code: "?"},
		}, []int{0, 4, 8, 16, 24}, 32, 8},
		{"trailing padding", []ctypes.FieldSpec{{Name: "q", Code: "q"}, {Name: "c", Code: "c"}}, []int{0, 8}, 16, 8},
		{"arrays", []ctypes.FieldSpec{
			{Name: "name", Code: "c", Len: 13}, {Name: "id", Code: "i"}, {Name: "w", Code: "H", Len: 3},
		}, []int{0, 16, 20}, 28, 4},
		{"nested", []ctypes.FieldSpec{{Name: "tag", Code: "c"}, point, {Name: "n", Code: "b"}}, []int{0, 2, 6}, 8, 2},
		{"nested array", []ctypes.FieldSpec{
			{Name: "tag", Code: "c"}, {Name: "pts", Struct: &pt, Len: 3}, {Name: "f", Code: "f"},
		}, []int{0, 2, 16}, 20, 4},
		{"padding fields may repeat", []ctypes.FieldSpec{
			{Name: "_", Code: "c"}, {Name: "_", Code: "c", Len: 3}, {Name: "i", Code: "I"},
		}, []int{0, 1, 4}, 8, 4},
	} {
		l := mustLayout(t, tc.fields...)
		if !equalInts(offsets(l), tc.offsets) || l.Size != tc.size || l.Align != tc.align {
			t.Errorf("%s: offsets %v size %d align %d, want %v %d %d",
				tc.name, offsets(l), l.Size, l.Align, tc.offsets, tc.size, tc.align)
		}
	}
}

func TestStructLayoutFields(t *testing.T) {
	pt := pointLayout(t)
	point := ctypes.FieldSpec{Name: "pos", Struct: &pt}
	l := mustLayout(t, ctypes.FieldSpec{Name: "name", Code: "c", Len: 16}, point)
	name, pos := l.Fields[0], l.Fields[1]
	if name.Type.Code != "c" || name.Len != 16 || name.Size != 16 || name.Align != 1 || name.Struct != nil {
		t.Errorf("name: %+v", name)
	}
	if pos.Struct == nil || pos.Struct.Name != "point" || pos.Size != 4 || pos.Align != 2 || pos.Offset != 16 {
		t.Errorf("pos: %+v", pos)
	}
	// The nested layout is a copy: changing the original later changes nothing.
	pt.Name = "changed"
	if pos.Struct.Name != "point" {
		t.Errorf("nested layout aliases the spec's Layout")
	}
}

func TestStructLayoutErrors(t *testing.T) {
	pt := pointLayout(t)
	bad := ctypes.Layout{Size: 5, Align: 4}
	odd := ctypes.Layout{Size: 6, Align: 3}
	for _, tc := range []struct {
		name   string
		fields []ctypes.FieldSpec
		want   string
	}{
		{"no name", []ctypes.FieldSpec{{Code: "i"}}, "no name"},
		{"duplicate", []ctypes.FieldSpec{{Name: "a", Code: "i"}, {Name: "a", Code: "c"}}, `duplicate name "a"`},
		{"no type", []ctypes.FieldSpec{{Name: "a"}}, `type code "" unknown`},
		{"unknown code", []ctypes.FieldSpec{{Name: "a", Code: "z"}}, `type code "z" unknown`},
		{"both", []ctypes.FieldSpec{{Name: "a", Code: "i", Struct: &pt}}, "both"},
		{"negative len", []ctypes.FieldSpec{{Name: "a", Code: "i", Len: -1}}, "negative array length -1"},
		{"bad nested size", []ctypes.FieldSpec{{Name: "a", Struct: &bad}}, "size 5 is not a multiple"},
		{"bad nested align", []ctypes.FieldSpec{{Name: "a", Struct: &odd}}, "alignment 3"},
		{"array overflow", []ctypes.FieldSpec{{Name: "a", Code: "q", Len: math.MaxInt/8 + 1}}, "overflow int"},
		{"struct overflow", []ctypes.FieldSpec{
			{Name: "a", Code: "c", Len: math.MaxInt - 4}, {Name: "b", Code: "i"},
		}, "overflows int"},
		{"trailing overflow", []ctypes.FieldSpec{
			{Name: "a", Code: "q"}, {Name: "b", Code: "c", Len: math.MaxInt - 9},
		}, "overflows int"},
	} {
		_, err := ctypes.StructLayout(tc.fields...)
		if !errors.Is(err, ctypes.ErrLayout) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrLayout with %q", tc.name, err, tc.want)
		}
	}
}

func TestLayoutString(t *testing.T) {
	l := recLayout(t)
	l.Name = "rec"
	want := `struct rec {
    int id;       /* offset 0, size 4 */
    /* 4 bytes padding */
    double score; /* offset 8, size 8 */
    char name[5]; /* offset 16, size 5 */
    /* 1 byte padding */
    struct point {
        short x;  /* offset 0, size 2 */
        short y;  /* offset 2, size 2 */
    } pos;        /* offset 22, size 4 */
    _Bool ok;     /* offset 26, size 1 */
    /* 5 bytes padding */
};                /* size 32, align 8 */`
	if got := l.String(); got != want {
		t.Errorf("String():\n%s\nwant:\n%s", got, want)
	}
}

func TestFieldByName(t *testing.T) {
	pt := pointLayout(t)
	point := ctypes.FieldSpec{Name: "pos", Struct: &pt}
	l := mustLayout(t,
		ctypes.FieldSpec{Name: "tag", Code: "c"},
		ctypes.FieldSpec{Name: "pts", Struct: &pt, Len: 2},
		ctypes.FieldSpec{Name: "_", Code: "c"},
		point,
	)
	for path, off := range map[string]int{"tag": 0, "pts": 2, "pts.y": 4, "pos": 12, "pos.x": 12, "pos.y": 14} {
		f, ok := l.FieldByName(path)
		if !ok || f.Offset != off {
			t.Errorf("FieldByName(%q) = offset %d, %v; want %d", path, f.Offset, ok, off)
		}
	}
	for _, path := range []string{"", "nope", "tag.x", "pos.z", "pos.", "_", "pos.x.y"} {
		if f, ok := l.FieldByName(path); ok {
			t.Errorf("FieldByName(%q) found %+v", path, f)
		}
	}
}

// Go mirrors of C structs.
type (
	goPoint struct{ X, Y int16 }
	goRec   struct {
		ID    int32
		_     [4]byte
		Score float64
		Name  [5]byte
		_     byte
		Pos   goPoint
		OK    bool
	}
)

// recLayout returns
//
//	struct { int id; double score; char name[5]; struct point pos; _Bool ok; }
func recLayout(t *testing.T) ctypes.Layout {
	pt := pointLayout(t)
	point := ctypes.FieldSpec{Name: "pos", Struct: &pt}
	return mustLayout(t,
		ctypes.FieldSpec{Name: "id", Code: "i"},
		ctypes.FieldSpec{Name: "score", Code: "d"},
		ctypes.FieldSpec{Name: "name", Code: "c", Len: 5},
		point,
		ctypes.FieldSpec{Name: "ok", Code: "?"},
	)
}

func TestLayoutOf(t *testing.T) {
	l, err := ctypes.LayoutOf[goRec]()
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "goRec" || l.Size != 32 || l.Align != 8 {
		t.Errorf("goRec: name %q size %d align %d", l.Name, l.Size, l.Align)
	}
	if want := []int{0, 4, 8, 16, 21, 22, 26}; !equalInts(offsets(l), want) {
		t.Errorf("offsets %v, want %v", offsets(l), want)
	}
	pos := l.Fields[5]
	if pos.Struct == nil || pos.Struct.Name != "goPoint" || pos.Struct.Fields[1].Type.Code != "h" {
		t.Errorf("Pos: %+v", pos)
	}

	type flat struct {
		M   [2][8]byte
		Z   struct{}
		Arr [3]goPoint
		End uint64
		N   [0]int64
	}
	l, err = ctypes.LayoutOf[flat]()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Fields) != 3 || l.Fields[0].Len != 16 || l.Fields[1].Len != 3 || l.Fields[1].Struct == nil || l.Fields[2].Offset != 32 {
		t.Errorf("flat: %s", l)
	}
	if l.Size != 48 { // Go pads after a trailing zero-size field; C's size would be 40
		t.Errorf("flat size %d, want 48", l.Size)
	}
}

func TestLayoutOfErrors(t *testing.T) {
	type withComplex struct {
		A     int32
		Inner struct{ Z complex64 }
	}
	for name, tc := range map[string]struct {
		err      error
		sentinel error
		want     string
	}{
		"not a struct": {layoutErr[int](), ctypes.ErrUnsupported, "LayoutOf[int]: not a struct"},
		"pointers":     {layoutErr[withPointer](), ctypes.ErrPointers, "P has type *int64"},
		"complex":      {layoutErr[withComplex](), ctypes.ErrUnsupported, "Inner.Z has type complex64"},
	} {
		if !errors.Is(tc.err, tc.sentinel) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %v with %q", name, tc.err, tc.sentinel, tc.want)
		}
	}
}

func layoutErr[T any]() error {
	_, err := ctypes.LayoutOf[T]()
	return err
}

func TestCheckLayout(t *testing.T) {
	c := recLayout(t)
	if err := ctypes.CheckLayout[goRec](c); err != nil {
		t.Fatalf("goRec: %v", err)
	}
	type (
		shifted struct {
			ID    int32
			Flags uint32
			Score float64
		}
		signedness struct {
			ID    uint32
			_     [4]byte
			Score float64
			Name  [5]byte
			_     byte
			Pos   goPoint
			OK    bool
		}
		count struct {
			ID    int32
			_     [4]byte
			Score float64
			Name  [4]byte
		}
		asBytes struct {
			ID    int32
			_     [4]byte
			Score float64
			Name  [5]int8 // char matches signed and unsigned bytes
			_     byte
			Pos   [2]int16
		}
		badNested struct {
			ID    int32
			_     [4]byte
			Score float64
			Name  [5]byte
			_     byte
			Pos   struct{ X, Y uint16 }
		}
		extra struct {
			ID    int32
			_     [4]byte
			Score float64
			Name  [5]byte
			_     byte
			Pos   goPoint
			OK    bool
			More  bool
		}
		short struct {
			ID    int32
			_     [4]byte
			Score float64
			Name  [5]byte
			_     byte
			Pos   goPoint
		}
	)
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"offset":     {ctypes.CheckLayout[shifted](c), "field score (Go Flags): offset 8 in C, 4 in Go"},
		"signedness": {ctypes.CheckLayout[signedness](c), "field id (Go ID): int (4 bytes) in C, Go type is like unsigned int (4 bytes)"},
		"count":      {ctypes.CheckLayout[count](c), "field name (Go Name): 5 elements in C, 4 in Go"},
		"struct":     {ctypes.CheckLayout[asBytes](c), "field pos (Go Pos): struct in C, short in Go"},
		"nested":     {ctypes.CheckLayout[badNested](c), "field pos.x (Go X): short (2 bytes) in C"},
		"extra":      {ctypes.CheckLayout[extra](c), "Go field More at offset 27 has no C field"},
		"missing":    {ctypes.CheckLayout[short](c), "C field ok at offset 26 has no Go field"},
	} {
		if !errors.Is(tc.err, ctypes.ErrMismatch) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrMismatch with %q", name, tc.err, tc.want)
		}
	}

	// Same fields, different sizes: C has trailing padding Go lacks.
	type q struct {
		A uint64
		B uint8
	}
	type packed struct {
		A [2]uint32
		B uint8
	}
	cq := mustLayout(t, ctypes.FieldSpec{Name: "a", Code: "Q"}, ctypes.FieldSpec{Name: "b", Code: "B"})
	if err := ctypes.CheckLayout[q](cq); err != nil {
		t.Errorf("q: %v", err)
	}
	err := ctypes.CheckLayout[packed](cq)
	if !errors.Is(err, ctypes.ErrMismatch) {
		t.Errorf("packed: %v", err)
	}
	cc := mustLayout(t, ctypes.FieldSpec{Name: "a", Code: "I", Len: 2}, ctypes.FieldSpec{Name: "b", Code: "B"})
	if err := ctypes.CheckLayout[packed](cc); err != nil {
		t.Errorf("packed vs unsigned int a[2]: %v", err)
	}
	cc.Size = 16
	if err := ctypes.CheckLayout[packed](cc); !errors.Is(err, ctypes.ErrMismatch) || !strings.Contains(err.Error(), "struct: size 16 in C, 12 in Go") {
		t.Errorf("size: %v", err)
	}
	cc.Size, cc.Align = 12, 8
	if err := ctypes.CheckLayout[packed](cc); !errors.Is(err, ctypes.ErrMismatch) || !strings.Contains(err.Error(), "struct: alignment 8 in C, 4 in Go") {
		t.Errorf("align: %v", err)
	}
	if err := ctypes.CheckLayout[int](cc); !errors.Is(err, ctypes.ErrUnsupported) {
		t.Errorf("CheckLayout[int]: %v", err)
	}
}
