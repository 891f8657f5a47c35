package ctypes_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
)

// aligned returns n zero bytes starting at a multiple of align, with no
// spare capacity.
func aligned(n, align int) []byte {
	b := make([]byte, n+align)
	off := ctypes.AlignOffset(b, align)
	return b[off : off+n : off+n]
}

// record is laid out like
//
//	struct record { unsigned int a; short b; char pad[2]; double c; unsigned char d[4]; _Bool e; };
type record struct {
	A uint32
	B int16
	_ [2]byte
	C float64
	D [4]uint8
	E bool
}

func TestViewWritesMemory(t *testing.T) {
	mem := aligned(32, 8)
	r, err := ctypes.View[record](mem)
	if err != nil {
		t.Fatal(err)
	}
	r.A = 0xdeadbeef
	r.B = -2
	r.C = 1.5
	r.D = [4]uint8{1, 2, 3, 4}
	r.E = true

	ne := binary.NativeEndian
	if got := ne.Uint32(mem[0:]); got != 0xdeadbeef {
		t.Errorf("a = %#x", got)
	}
	if got := int16(ne.Uint16(mem[4:])); got != -2 {
		t.Errorf("b = %d", got)
	}
	if got := math.Float64frombits(ne.Uint64(mem[8:])); got != 1.5 {
		t.Errorf("c = %v", got)
	}
	if got := string(mem[16:20]); got != "\x01\x02\x03\x04" {
		t.Errorf("d = %q", got)
	}
	if mem[20] != 1 {
		t.Errorf("e = %d", mem[20])
	}

	// And the other way: bytes written are what the view reads.
	ne.PutUint32(mem[0:], 7)
	ne.PutUint64(mem[8:], math.Float64bits(-0.25))
	if r.A != 7 || r.C != -0.25 {
		t.Errorf("view reads a=%d c=%v after writing bytes", r.A, r.C)
	}
}

func TestViewAtOffset(t *testing.T) {
	mem := aligned(64, 8)
	v, err := ctypes.View[uint64](mem[16:])
	if err != nil {
		t.Fatal(err)
	}
	*v = math.MaxUint64
	for i, b := range mem {
		want := byte(0)
		if i >= 16 && i < 24 {
			want = 0xff
		}
		if b != want {
			t.Fatalf("mem[%d] = %#x, want %#x", i, b, want)
		}
	}
}

func TestSliceWritesMemory(t *testing.T) {
	mem := aligned(8*5, 8)
	s, err := ctypes.Slice[int64](mem, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 4 || cap(s) != 4 {
		t.Fatalf("len %d cap %d, want 4 4", len(s), cap(s))
	}
	for i := range s {
		s[i] = int64(i) - 2
	}
	for i := range 4 {
		if got := int64(binary.NativeEndian.Uint64(mem[8*i:])); got != int64(i)-2 {
			t.Errorf("element %d = %d in memory", i, got)
		}
	}
	// cap(s) == n: appending copies rather than writing the fifth word.
	_ = append(s, 99)
	if got := binary.NativeEndian.Uint64(mem[32:]); got != 0 {
		t.Errorf("append wrote %d past the slice", got)
	}

	recs, err := ctypes.Slice[record](aligned(3*24, 8), 3)
	if err != nil || len(recs) != 3 {
		t.Fatalf("Slice[record]: %d, %v", len(recs), err)
	}
}

func TestSliceEmptyAndZeroSize(t *testing.T) {
	for _, mem := range [][]byte{nil, {}, aligned(8, 8)[1:]} {
		s, err := ctypes.Slice[uint64](mem, 0)
		if err != nil || s == nil || len(s) != 0 {
			t.Errorf("Slice(len %d mem, 0) = %v (nil %v), %v; want empty non-nil", len(mem), s, s == nil, err)
		}
	}
	z, err := ctypes.Slice[struct{}](nil, 1<<40)
	if err != nil || len(z) != 1<<40 {
		t.Errorf("Slice[struct{}](nil, 1<<40): len %d, %v", len(z), err)
	}
	p, err := ctypes.View[struct{}](nil)
	if err != nil || p == nil {
		t.Errorf("View[struct{}](nil) = %v, %v", p, err)
	}
	if _, err := ctypes.View[[0]uint64](aligned(8, 8)[1:]); err != nil {
		t.Errorf("View[[0]uint64] on odd address: %v", err)
	}
	if _, err := ctypes.Slice[struct{}](nil, -1); !errors.Is(err, ctypes.ErrNegative) {
		t.Errorf("Slice[struct{}](nil, -1): %v, want ErrNegative", err)
	}
}

type withPointer struct {
	A int64
	P *int64
}

type nestedPointer struct {
	X     uint32
	Inner struct {
		Y    uint32
		Tags []string
	}
}

type arrayPointer struct {
	N    int32
	Recs [2]struct {
		V float64
		S string
	}
}

type nonComparable struct {
	_ [0]func() // holds nothing: zero-length arrays are allowed
	X uint64
}

func TestPointerTypes(t *testing.T) {
	type check struct {
		view  func([]byte) error
		slice func([]byte) error
		where string // part of the message naming the component
	}
	of := func(view func([]byte) error, slice func([]byte) error, where string) check {
		return check{view, slice, where}
	}
	checks := map[string]check{
		"*int":           of(viewErr[*int], sliceErr[*int], "type *int"),
		"[]byte":         of(viewErr[[]byte], sliceErr[[]byte], "type []uint8"),
		"string":         of(viewErr[string], sliceErr[string], "type string"),
		"map":            of(viewErr[map[int]int], sliceErr[map[int]int], "type map[int]int"),
		"any":            of(viewErr[any], sliceErr[any], "type interface {}"),
		"chan":           of(viewErr[chan int], sliceErr[chan int], "type chan int"),
		"func":           of(viewErr[func()], sliceErr[func()], "type func()"),
		"field":          of(viewErr[withPointer], sliceErr[withPointer], "P has type *int64"),
		"nested":         of(viewErr[nestedPointer], sliceErr[nestedPointer], "Inner.Tags has type []string"),
		"array":          of(viewErr[arrayPointer], sliceErr[arrayPointer], "Recs[i].S has type string"),
		"top array":      of(viewErr[[3]*int], sliceErr[[3]*int], "[i] has type *int"),
		"unsafe.Pointer": of(viewErr[atomic.Pointer[int]], sliceErr[atomic.Pointer[int]], "v has type unsafe.Pointer"),
	}
	mem := aligned(256, 8)
	for name, c := range checks {
		for op, f := range map[string]func([]byte) error{"View": c.view, "Slice": c.slice} {
			err := f(mem)
			if !errors.Is(err, ctypes.ErrPointers) {
				t.Errorf("%s %s: %v, want ErrPointers", op, name, err)
				continue
			}
			if !strings.HasPrefix(err.Error(), "ctypes: ") || !strings.Contains(err.Error(), c.where) {
				t.Errorf("%s %s: message %q does not contain %q", op, name, err, c.where)
			}
		}
	}
	// Pointer-free types, including ones that look suspicious.
	for name, err := range map[string]error{
		"[0]func()":     viewErr[nonComparable](mem),
		"[0]*int":       viewErr[[0]*int](mem),
		"atomic.Uint64": viewErr[atomic.Uint64](mem),
		"uintptr":       viewErr[uintptr](mem),
		"complex128":    viewErr[complex128](mem),
		"[4][2]float32": viewErr[[4][2]float32](mem),
		"record":        sliceErr[record](mem),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func viewErr[T any](mem []byte) error {
	_, err := ctypes.View[T](mem)
	return err
}

func sliceErr[T any](mem []byte) error {
	_, err := ctypes.Slice[T](mem, 2)
	return err
}

func TestMisaligned(t *testing.T) {
	mem := aligned(64, 8)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"uint64+1", viewErr[uint64](mem[1:]), "1 bytes past a 8-byte boundary"},
		{"uint64+4", viewErr[uint64](mem[4:]), "4 bytes past a 8-byte boundary"},
		{"uint16+1", viewErr[uint16](mem[1:]), "1 bytes past a 2-byte boundary"},
		{"record+2", viewErr[record](mem[2:]), "2 bytes past a 8-byte boundary"},
		{"Slice uint32+2", sliceErr[uint32](mem[2:]), "2 bytes past a 4-byte boundary"},
	} {
		if !errors.Is(tc.err, ctypes.ErrMisaligned) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrMisaligned with %q", tc.name, tc.err, tc.want)
		}
	}
	for off := range 8 {
		if err := viewErr[uint8](mem[off:]); err != nil {
			t.Errorf("View[uint8] at +%d: %v", off, err)
		}
	}
	if err := viewErr[uint32](mem[4:]); err != nil {
		t.Errorf("View[uint32] at +4: %v", err)
	}
}

func TestShort(t *testing.T) {
	mem := aligned(64, 8)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"View uint64 in 7", viewErr[uint64](mem[:7]), "View[uint64]: 8 bytes needed, 7 available"},
		{"View nil", viewErr[uint32](nil), "4 bytes needed, 0 available"},
		{"View record", viewErr[record](mem[:23]), "View[ctypes_test.record]: 24 bytes needed, 23 available"},
		{"Slice 9 in 64", sliceN[uint64](mem, 9), "Slice[uint64]: 72 bytes needed, 64 available"},
		{"Slice nil", sliceN[int16](nil, 1), "2 bytes needed, 0 available"},
		{"overflow", sliceN[uint64](mem, math.MaxInt/2), "overflow int"},
		{"overflow by one", sliceN[uint64](mem, math.MaxInt/8+1), "overflow int"},
		{"huge but representable", sliceN[uint64](mem, math.MaxInt/8), fmt.Sprintf("%d bytes needed", math.MaxInt/8*8)},
		{"MaxInt bytes", sliceN[byte](mem, math.MaxInt), fmt.Sprintf("%d bytes needed", math.MaxInt)},
	} {
		if !errors.Is(tc.err, ctypes.ErrShort) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrShort with %q", tc.name, tc.err, tc.want)
		}
	}
	if err := sliceN[uint64](mem, 8); err != nil {
		t.Errorf("Slice of exactly len(mem) bytes: %v", err)
	}
}

func sliceN[T any](mem []byte, n int) error {
	_, err := ctypes.Slice[T](mem, n)
	return err
}

func TestNegative(t *testing.T) {
	for _, n := range []int{-1, math.MinInt} {
		err := sliceN[uint32](aligned(64, 8), n)
		if !errors.Is(err, ctypes.ErrNegative) || !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("Slice(n=%d): %v, want ErrNegative naming the count", n, err)
		}
	}
}

func TestViewDoesNotAllocate(t *testing.T) {
	mem := aligned(64, 8)
	// Warm the per-type cache.
	_, _ = ctypes.View[record](mem)
	_, _ = ctypes.Slice[uint32](mem, 4)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ctypes.View[record](mem); err != nil {
			panic(err)
		}
		if _, err := ctypes.Slice[uint32](mem, 4); err != nil {
			panic(err)
		}
		if _, err := ctypes.Slice[uint32](mem, 0); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("View and Slice allocate %v times per call", allocs)
	}
}

// TestConcurrentVerdicts runs the first View of many types from many
// goroutines at once, for the race detector to check the verdict cache.
func TestConcurrentVerdicts(t *testing.T) {
	mem := aligned(256, 8)
	fs := []func([]byte) error{
		viewErr[[1]uint8], viewErr[[2]uint8], viewErr[[3]uint8], viewErr[[4]*uint8],
		viewErr[struct{ A, B int32 }], viewErr[struct{ S string }], sliceErr[[5]uint16], sliceErr[[6]any],
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range fs {
				f := fs[(i+g)%len(fs)]
				_ = f(mem)
			}
		})
	}
	wg.Wait()
	if err := viewErr[[4]*uint8](mem); !errors.Is(err, ctypes.ErrPointers) {
		t.Errorf("[4]*uint8: %v", err)
	}
}

func TestAlignOffset(t *testing.T) {
	b := make([]byte, 64)
	for _, align := range []int{1, 2, 4, 8, 16, 32} {
		for start := range 16 {
			off := ctypes.AlignOffset(b[start:], align)
			if off < 0 || off >= align {
				t.Fatalf("AlignOffset(+%d, %d) = %d", start, align, off)
			}
			// An offset that AlignOffset calls aligned is one View accepts.
			if align == 8 {
				if err := viewErr[uint64](b[start+off:]); err != nil {
					t.Errorf("View[uint64] at AlignOffset: %v", err)
				}
			}
		}
	}
	if got := ctypes.AlignOffset(nil, 64); got != 0 {
		t.Errorf("AlignOffset(nil, 64) = %d", got)
	}
	for _, bad := range []int{0, -8, 3, 12} {
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.HasPrefix(msg, "ctypes: AlignOffset: alignment") {
					t.Errorf("AlignOffset(_, %d) panicked with %v", bad, r)
				}
			}()
			ctypes.AlignOffset(b, bad)
		}()
	}
}

// BenchmarkView measures a checked View plus one field update, next to the
// safe alternative of decoding and encoding the field with encoding/binary.
func BenchmarkView(b *testing.B) {
	mem := aligned(64, 8)
	b.Run("ctypes.View", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := ctypes.View[record](mem)
			if err != nil {
				b.Fatal(err)
			}
			r.A++
		}
	})
	b.Run("baseline=binary.NativeEndian", func(b *testing.B) {
		b.ReportAllocs()
		ne := binary.NativeEndian
		for b.Loop() {
			ne.PutUint32(mem, ne.Uint32(mem)+1)
		}
	})
}

func BenchmarkSlice(b *testing.B) {
	mem := aligned(1024, 8)
	b.ReportAllocs()
	for b.Loop() {
		s, err := ctypes.Slice[uint64](mem, 128)
		if err != nil {
			b.Fatal(err)
		}
		s[0]++
	}
}

func TestBytesAndPointerFree(t *testing.T) {
	type pair struct {
		A int32
		B float64
	}
	v := pair{A: 7, B: 1.5}
	b, err := ctypes.Bytes(&v)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 16 || binary.NativeEndian.Uint32(b) != 7 {
		t.Fatalf("bytes %v", b)
	}
	b[0] = 9
	if v.A != 9 {
		t.Fatal("write through Bytes not visible")
	}
	s := "x"
	if _, err := ctypes.Bytes(&s); !errors.Is(err, ctypes.ErrPointers) {
		t.Fatalf("Bytes of a string: %v", err)
	}
	if err := ctypes.PointerFree(reflect.TypeFor[pair]()); err != nil {
		t.Fatal(err)
	}
	if err := ctypes.PointerFree(reflect.TypeFor[[]int]()); !errors.Is(err, ctypes.ErrPointers) {
		t.Fatal(err)
	}
}
