package ctypes_test

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/ctypes"
)

func ExampleLookup() {
	for _, code := range []string{"c", "h", "l", "Q", "d", "?"} {
		t, err := ctypes.Lookup(code)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s  %-18s size %d align %d  Go %s\n", t.Code, t.CName, t.Size, t.Align, t.GoType)
	}
	_, err := ctypes.Lookup("z")
	fmt.Println(err, errors.Is(err, ctypes.ErrUnknownCode))
	// Output:
	// c  char               size 1 align 1  Go uint8
	// h  short              size 2 align 2  Go int16
	// l  long               size 8 align 8  Go int64
	// Q  unsigned long long size 8 align 8  Go uint64
	// d  double             size 8 align 8  Go float64
	// ?  _Bool              size 1 align 1  Go bool
	// ctypes: type code "z": unknown type code true
}

func ExampleView() {
	// Header is laid out like the C struct { unsigned int magic; int count; double load; }.
	type Header struct {
		Magic uint32
		Count int32
		Load  float64
	}
	// In real use, a shared memory segment's bytes, which are page-aligned.
	// A byte slice has no such guarantee: align it first.
	buf := make([]byte, 64+8)
	mem := buf[ctypes.AlignOffset(buf, 8):]

	h, err := ctypes.View[Header](mem)
	if err != nil {
		panic(err)
	}
	h.Magic = 0x53484d4b
	h.Count++
	fmt.Printf("%#x %d\n", binary.NativeEndian.Uint32(mem), binary.NativeEndian.Uint32(mem[4:]))

	_, err = ctypes.View[Header](mem[1:])
	fmt.Println(errors.Is(err, ctypes.ErrMisaligned))
	_, err = ctypes.View[Header](mem[:10])
	fmt.Println(err)
	_, err = ctypes.View[struct{ Name string }](mem)
	fmt.Println(errors.Is(err, ctypes.ErrPointers))
	// Output:
	// 0x53484d4b 1
	// true
	// ctypes: View[ctypes_test.Header]: 16 bytes needed, 10 available: memory too short
	// true
}

func ExampleSlice() {
	buf := make([]byte, 40+4)
	mem := buf[ctypes.AlignOffset(buf, 4):][:40]
	xs, err := ctypes.Slice[float32](mem, 10)
	if err != nil {
		panic(err)
	}
	for i := range xs {
		xs[i] = float32(i) / 2
	}
	ys, _ := ctypes.Slice[float32](mem[8:], 3) // another view of the same bytes
	fmt.Println(len(xs), ys)

	_, err = ctypes.Slice[float32](mem, 11)
	fmt.Println(err)
	// Output:
	// 10 [1 1.5 2]
	// ctypes: Slice[float32]: 44 bytes needed, 40 available: memory too short
}

func ExampleStructLayout() {
	point, err := ctypes.StructLayout(
		ctypes.FieldSpec{Name: "x", Code: "i"},
		ctypes.FieldSpec{Name: "y", Code: "i"},
	)
	if err != nil {
		panic(err)
	}
	point.Name = "point"
	rec, err := ctypes.StructLayout(
		ctypes.FieldSpec{Name: "name", Code: "c", Len: 10},
		ctypes.FieldSpec{Name: "id", Code: "q"},
		ctypes.FieldSpec{Name: "pos", Struct: &point},
		ctypes.FieldSpec{Name: "live", Code: "?"},
	)
	if err != nil {
		panic(err)
	}
	rec.Name = "rec"
	fmt.Println(rec)
	y, _ := rec.FieldByName("pos.y")
	fmt.Println("pos.y at", y.Offset)
	// Output:
	// struct rec {
	//     char name[10]; /* offset 0, size 10 */
	//     /* 6 bytes padding */
	//     long long id;  /* offset 16, size 8 */
	//     struct point {
	//         int x;     /* offset 0, size 4 */
	//         int y;     /* offset 4, size 4 */
	//     } pos;         /* offset 24, size 8 */
	//     _Bool live;    /* offset 32, size 1 */
	//     /* 7 bytes padding */
	// };                 /* size 40, align 8 */
	// pos.y at 28
}

func ExampleCheckLayout() {
	// The C side: struct { int id; double score; char tag[4]; }.
	c, err := ctypes.StructLayout(
		ctypes.FieldSpec{Name: "id", Code: "i"},
		ctypes.FieldSpec{Name: "score", Code: "d"},
		ctypes.FieldSpec{Name: "tag", Code: "c", Len: 4},
	)
	if err != nil {
		panic(err)
	}
	type Good struct {
		ID    int32
		_     [4]byte // explicit padding is skipped
		Score float64
		Tag   [4]byte
	}
	type Bad struct {
		ID    int32
		Score float32
		Tag   [4]byte
	}
	fmt.Println(ctypes.CheckLayout[Good](c))
	fmt.Println(ctypes.CheckLayout[Bad](c))
	// Output:
	// <nil>
	// ctypes: CheckLayout[ctypes_test.Bad]: field score (Go Score): offset 8 in C, 4 in Go: layout mismatch
}

func ExampleParseFormat() {
	// The layout Python's struct.pack("@iqd16s?", ...) writes.
	l, err := ctypes.ParseFormat("@iqd16s?")
	if err != nil {
		panic(err)
	}
	for _, f := range l.Fields {
		fmt.Printf("%s: %s at %d\n", f.Name, f.Type, f.Offset)
	}
	n, _ := ctypes.CalcSize("@iqd16s?")
	fmt.Println("calcsize", n, "sizeof", l.Size)
	// Output:
	// f0: int at 0
	// f1: long long at 8
	// f2: double at 16
	// f3: char at 24
	// f4: _Bool at 40
	// calcsize 41 sizeof 48
}

func ExampleTypeOf() {
	fmt.Println(ctypes.TypeOf[uint16]().Code, ctypes.TypeOf[int64]().Code, ctypes.TypeOf[float64]().CName)
	// Output: H q double
}
