package rawarray_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	roles["sl-child"] = slChildRole
}

// newList makes a ShareableList in a named segment, unlinked and closed
// when the test ends.
func newList(t *testing.T, items []any) *rawarray.ShareableList {
	t.Helper()
	l, err := rawarray.NewShareableList(proctest.Name(t), items)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, l.Unlink())
		assert.NoError(t, l.Close())
	})
	return l
}

// listItems reads every item of l.
func listItems(t testing.TB, l *rawarray.ShareableList) []any {
	t.Helper()
	out := make([]any, l.Len())
	for i := range out {
		v, err := l.Get(i)
		require.NoError(t, err, "item %d", i)
		out[i] = v
	}
	return out
}

// TestShareableListTypes: every item type round-trips through a named
// segment and a second mapping of it, with Python's formats.
func TestShareableListTypes(t *testing.T) {
	items := []any{"a", int64(1), 2.5, true, nil, []byte("xy"), "abcdefgh", "", int64(-3), []byte{},
		false, 1e300, int64(math.MinInt64), "héllo wörld", []byte{0, 'a', 0}, math.Inf(-1)}
	want := append([]any(nil), items...)
	want[14] = []byte{0, 'a'} // trailing NULs are padding, as in Python
	l := newList(t, items)
	require.Equal(t, len(items), l.Len())
	assert.Equal(t, want, listItems(t, l))
	assert.Equal(t, "8sqdxxxxxxx?xxxxxx?x8s16s8sq8sxxxxxxx?dq16s8sd", l.Format())
	assert.Equal(t, strings.TrimPrefix(l.Name(), "/"), l.Name())
	assert.Contains(t, l.String(), l.Name())

	// The size is Python's: 8(n+2) + slots + 9n.
	size, err := rawarray.ShareableListSize(items)
	require.NoError(t, err)
	assert.Equal(t, 8*(16+2)+(14*8+2*16)+9*16, size)
	fi, err := os.Stat(filepath.Join(shm.Dir, l.Name()))
	require.NoError(t, err)
	assert.Equal(t, int64(size), fi.Size())

	// A second mapping, with and without Python's leading slash, sees
	// the same items; a Set through one is seen through the other.
	for _, name := range []string{l.Name(), "/" + l.Name()} {
		o, err := rawarray.OpenShareableList(name)
		require.NoError(t, err)
		assert.Equal(t, want, listItems(t, o))
		assert.Equal(t, l.Format(), o.Format())
		assert.Equal(t, l.Name(), o.Name())
		require.NoError(t, o.Set(0, "z"))
		v, err := l.Get(0)
		require.NoError(t, err)
		assert.Equal(t, "z", v)
		require.NoError(t, o.Set(-16, "a"))
		require.NoError(t, o.Close())
	}
}

// TestShareableListConversions: other Go integer types and float32 are
// stored as int64 and float64; what no Python type matches is ErrItem.
func TestShareableListConversions(t *testing.T) {
	l, err := rawarray.PlaceShareableList(newHeap(4096), 0, []any{
		7, int8(-8), int16(-16), int32(-32), uint(1), uint8(8), uint16(16), uint32(32), uint64(math.MaxInt64), float32(0.5),
	})
	require.NoError(t, err)
	assert.Equal(t, []any{int64(7), int64(-8), int64(-16), int64(-32), int64(1), int64(8), int64(16), int64(32),
		int64(math.MaxInt64), 0.5}, listItems(t, l))
	assert.Equal(t, strings.Repeat("q", 9)+"d", l.Format())

	before := l.Format()
	for _, v := range []any{uint64(math.MaxInt64 + 1), uint(math.MaxUint), "\xff", struct{}{}, []int{1}, new(int64), complex(1, 2)} {
		assert.ErrorIs(t, l.Set(0, v), rawarray.ErrItem, "%T %v", v, v)
		name := proctest.Name(t)
		_, err := rawarray.NewShareableList(name, []any{1, v})
		assert.ErrorIs(t, err, rawarray.ErrItem, "%T %v", v, v)
		_, err = os.Stat(filepath.Join(shm.Dir, name))
		assert.ErrorIs(t, err, fs.ErrNotExist, "a failed NewShareableList makes no segment")
		_, err = rawarray.ShareableListSize([]any{v})
		assert.ErrorIs(t, err, rawarray.ErrItem, "%T %v", v, v)
	}
	assert.Equal(t, before, l.Format(), "failed Sets changed nothing")
}

// TestShareableListSet: Set replaces items with values of any type that
// fits the slot, as Python's __setitem__ does; a str or bytes longer than
// the slot is ErrTooLarge and changes nothing.
func TestShareableListSet(t *testing.T) {
	m := newHeap(4096)
	l, err := rawarray.PlaceShareableList(m, 0, []any{"abcdefgh", int64(1), nil, []byte("xy")})
	require.NoError(t, err)
	assert.Equal(t, "16sqxxxxxx?x8s", l.Format())

	// The 16-byte str slot takes each type in turn.
	for _, v := range []any{int64(-5), 1.25, true, false, nil, "0123456789abcdef", []byte("0123456789abcdef"), "", []byte{}, "é"} {
		require.NoError(t, l.Set(0, v), "%#v", v)
		got, err := l.Get(0)
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
	// An 8-byte slot made for an int takes 8 bytes of str, and its format
	// becomes "8s"; then an int again.
	require.NoError(t, l.Set(1, "12345678"))
	assert.Equal(t, "16s8sxxxxxx?x8s", l.Format())
	require.NoError(t, l.Set(1, 99))
	assert.Equal(t, "16sqxxxxxx?x8s", l.Format())
	// None's slot takes bytes.
	require.NoError(t, l.Set(2, []byte("None->b")))
	assert.Equal(t, "16sq8s8s", l.Format())

	// Too large: an error matching ErrTooLarge, no byte changed.
	snapshot := func() []byte { return append([]byte(nil), m...) }
	before := snapshot()
	for i, v := range map[int]any{0: strings.Repeat("x", 17), 1: "123456789", 2: []byte("123456789"), 3: "€€€"} {
		assert.ErrorIs(t, l.Set(i, v), rawarray.ErrTooLarge, "item %d = %q", i, v)
	}
	assert.Equal(t, before, snapshot())

	// Trailing NULs are padding: they do not survive, as in Python.
	require.NoError(t, l.Set(3, "ab\x00\x00"))
	v, err := l.Get(3)
	require.NoError(t, err)
	assert.Equal(t, "ab", v)
	require.NoError(t, l.Set(3, []byte("\x00b\x00")))
	v, err = l.Get(3)
	require.NoError(t, err)
	assert.Equal(t, []byte("\x00b"), v)
}

// TestShareableListIndex: negative indices count from the end, as in
// Python; everything outside [-Len(), Len()) is ErrIndex.
func TestShareableListIndex(t *testing.T) {
	l, err := rawarray.PlaceShareableList(newHeap(256), 0, []any{int64(10), int64(11), int64(12)})
	require.NoError(t, err)
	for i, want := range map[int]int64{0: 10, 2: 12, -1: 12, -3: 10} {
		v, err := l.Get(i)
		require.NoError(t, err)
		assert.Equal(t, want, v, "Get(%d)", i)
	}
	require.NoError(t, l.Set(-2, int64(-11)))
	v, err := l.Get(1)
	require.NoError(t, err)
	assert.Equal(t, int64(-11), v)
	for _, i := range []int{3, -4, math.MaxInt, math.MinInt} {
		_, err := l.Get(i)
		assert.ErrorIs(t, err, rawarray.ErrIndex, "Get(%d)", i)
		assert.ErrorIs(t, l.Set(i, 1), rawarray.ErrIndex, "Set(%d)", i)
	}

	empty, err := rawarray.PlaceShareableList(newHeap(16), 0, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, empty.Len())
	assert.Equal(t, "", empty.Format())
	_, err = empty.Get(0)
	assert.ErrorIs(t, err, rawarray.ErrIndex)
	_, err = empty.Get(-1)
	assert.ErrorIs(t, err, rawarray.ErrIndex)
}

// TestShareableListLifecycle: Close is idempotent and ends Get and Set;
// Unlink works before or after Close; names are Python's.
func TestShareableListLifecycle(t *testing.T) {
	name := proctest.Name(t)
	l, err := rawarray.NewShareableList("/"+name, []any{1})
	require.NoError(t, err)
	assert.Equal(t, name, l.Name())
	_, err = rawarray.NewShareableList(name, []any{2})
	assert.ErrorIs(t, err, fs.ErrExist)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	_, err = l.Get(0)
	assert.ErrorIs(t, err, rawarray.ErrClosed)
	assert.ErrorIs(t, l.Set(0, 1), rawarray.ErrClosed)
	assert.Equal(t, "", l.Format())
	assert.Equal(t, 1, l.Len())
	require.NoError(t, l.Unlink())
	assert.ErrorIs(t, l.Unlink(), fs.ErrNotExist)
	_, err = rawarray.OpenShareableList(name)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	// No name: Python's kind of random one.
	l, err = rawarray.NewShareableList("", []any{"x"})
	require.NoError(t, err)
	assert.Regexp(t, `^psm_[0-9a-f]{8}$`, l.Name())
	o, err := rawarray.OpenShareableList(l.Name())
	require.NoError(t, err)
	require.NoError(t, o.Close())
	require.NoError(t, l.Unlink())
	require.NoError(t, l.Close())

	// A list in the caller's memory neither closes nor unlinks it.
	seg, err := shm.Create(proctest.Name(t), 64, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	defer func() { require.NoError(t, seg.Unlink()) }()
	p, err := rawarray.PlaceShareableList(seg, 8, []any{true})
	require.NoError(t, err)
	assert.Equal(t, seg.Name(), p.Name())
	require.NoError(t, p.Unlink())
	require.NoError(t, p.Close())
	a, err := rawarray.AttachShareableList(seg, 8)
	require.NoError(t, err)
	assert.Equal(t, []any{true}, listItems(t, a))
	assert.NotNil(t, seg.Bytes(), "the segment is still mapped")
}

// TestShareableListPlacement: offsets, sizes and memory that cannot hold
// a list.
func TestShareableListPlacement(t *testing.T) {
	items := []any{"abcdefgh", int64(1)}
	size, err := rawarray.ShareableListSize(items)
	require.NoError(t, err)
	assert.Equal(t, 8*4+16+8+18, size)
	m := newHeap(size + 3)
	_, err = rawarray.PlaceShareableList(m, 4, items)
	assert.ErrorIs(t, err, rawarray.ErrBounds, "one byte short")
	for _, off := range []int{-1, len(m) + 1} {
		_, err = rawarray.PlaceShareableList(m, off, items)
		assert.ErrorIs(t, err, rawarray.ErrBounds)
		_, err = rawarray.AttachShareableList(m, off)
		assert.ErrorIs(t, err, rawarray.ErrBounds)
	}
	_, err = rawarray.PlaceShareableList(nil, 0, items)
	assert.ErrorIs(t, err, rawarray.ErrBounds)
	_, err = rawarray.AttachShareableList(heap(nil), 0)
	assert.ErrorIs(t, err, rawarray.ErrClosed)

	// Any offset, aligned or not; bytes around the list are untouched.
	for i := range m {
		m[i] = 0xEE
	}
	l, err := rawarray.PlaceShareableList(m, 3, items)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xEE, 0xEE, 0xEE}, []byte(m[:3]))
	a, err := rawarray.AttachShareableList(m, 3)
	require.NoError(t, err)
	assert.Equal(t, []any{"abcdefgh", int64(1)}, listItems(t, a))
	require.NoError(t, l.Set(0, "0123456789abcdef"))
	assert.Equal(t, []any{"0123456789abcdef", int64(1)}, listItems(t, a))
	assert.Equal(t, "", a.Name())

	// Read-only memory: readable, Set refused.
	ro, err := rawarray.AttachShareableList(readOnlyHeap{m}, 3)
	require.NoError(t, err)
	assert.Equal(t, []any{"0123456789abcdef", int64(1)}, listItems(t, ro))
	assert.ErrorIs(t, ro.Set(1, 2), rawarray.ErrReadOnly)
	_, err = rawarray.PlaceShareableList(readOnlyHeap{m}, 3, items)
	assert.ErrorIs(t, err, rawarray.ErrReadOnly)

	// Too long for any slot: an 8-character format says at most 9999999.
	_, err = rawarray.ShareableListSize([]any{make([]byte, 9_999_992)})
	assert.ErrorIs(t, err, rawarray.ErrTooLarge)
	size, err = rawarray.ShareableListSize([]any{make([]byte, 9_999_991)})
	require.NoError(t, err)
	assert.Equal(t, 24+9_999_992+9, size)
}

// readOnlyHeap is heap memory that says it is mapped read-only.
type readOnlyHeap struct{ heap }

func (readOnlyHeap) ReadOnly() bool { return true }

// Python 3.11.7 made these images, so the test needs no Python:
//
//	sl = ShareableList(pyGoldenItems)                 → pyGoldenImage
//	sl[0] = 7; sl[1] = "hi"; sl[4] = b"12345678"; sl[6] = None
//	sl[3] = False; sl[5] = "xyzxyzxy"                 → pyGoldenImageSet
var (
	pyGoldenItems = []any{"a", int64(1), 2.5, true, nil, []byte("xy"), "abcdefgh", "", int64(-3), []byte{},
		false, []byte("\x00a\x00"), 1e300, int64(math.MinInt64)}
	pyGoldenImage = "0e00000000000000000000000000000008000000000000001000000000000000" +
		"1800000000000000200000000000000028000000000000003000000000000000" +
		"4000000000000000480000000000000050000000000000005800000000000000" +
		"6000000000000000680000000000000070000000000000007800000000000000" +
		"6100000000000000010000000000000000000000000004400000000000000001" +
		"0000000000000000787900000000000061626364656667680000000000000000" +
		"0000000000000000fdffffffffffffff00000000000000000000000000000000" +
		"00610000000000009c7500883ce4377e00000000000000803873000000000000" +
		"71000000000000006400000000000000787878787878783f7878787878783f78" +
		"3873000000000000313673000000000038730000000000007100000000000000" +
		"3873000000000000787878787878783f38730000000000006400000000000000" +
		"71000000000000000100000003020101000200020000"
	pyGoldenImageSet = "0e00000000000000000000000000000008000000000000001000000000000000" +
		"1800000000000000200000000000000028000000000000003000000000000000" +
		"4000000000000000480000000000000050000000000000005800000000000000" +
		"6000000000000000680000000000000070000000000000007800000000000000" +
		"0700000000000000686900000000000000000000000004400000000000000000" +
		"313233343536373878797a78797a787900000000000000000000000000000000" +
		"0000000000000000fdffffffffffffff00000000000000000000000000000000" +
		"00610000000000009c7500883ce4377e00000000000000807100000000000000" +
		"38730000000000006400000000000000787878787878783f3873000000000000" +
		"38730000000000007878787878783f7838730000000000007100000000000000" +
		"3873000000000000787878787878783f38730000000000006400000000000000" +
		"71000000000000000001000002010301000200020000"
	pyGoldenFormatSet = "q8sdxxxxxxx?8s8sxxxxxx?x8sq8sxxxxxxx?8sdq"
)

// TestShareableListPythonImage: Go lays out Python's bytes exactly, Sets
// change them exactly as Python's do, and Go reads Python's images.
func TestShareableListPythonImage(t *testing.T) {
	if !littleEndian() {
		t.Skip("the golden images are little-endian; this machine is not")
	}
	want, err := hex.DecodeString(pyGoldenImage)
	require.NoError(t, err)
	wantSet, err := hex.DecodeString(pyGoldenImageSet)
	require.NoError(t, err)
	size, err := rawarray.ShareableListSize(pyGoldenItems)
	require.NoError(t, err)
	require.Equal(t, len(want), size)

	m := newHeap(size)
	for i := range m {
		m[i] = 0x5A // Place writes every byte, padding included
	}
	l, err := rawarray.PlaceShareableList(m, 0, pyGoldenItems)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(m), "Go's image of Python's list")
	for i, v := range map[int]any{0: int64(7), 1: "hi", 4: []byte("12345678"), 6: nil, 3: false, 5: "xyzxyzxy"} {
		require.NoError(t, l.Set(i, v))
	}
	// The map's order does not matter: each Set touches its own item.
	require.Equal(t, hex.EncodeToString(wantSet), hex.EncodeToString(m), "Go's Sets on Python's list")
	assert.Equal(t, pyGoldenFormatSet, l.Format())

	m2 := newHeap(len(wantSet))
	copy(m2, wantSet)
	p, err := rawarray.AttachShareableList(m2, 0)
	require.NoError(t, err)
	assert.Equal(t, []any{int64(7), "hi", 2.5, false, []byte("12345678"), "xyzxyzxy", nil, "", int64(-3), []byte{},
		false, []byte("\x00a"), 1e300, int64(math.MinInt64)}, listItems(t, p))
	assert.Equal(t, pyGoldenFormatSet, p.Format())
}

// littleEndian reports whether this machine stores integers
// little-endian, as the images here are written.
func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// listImage builds a list image by hand for the hostile-memory tests:
// count, offsets, slots, formats, codes, all given.
func listImage(count int64, offsets []int64, slots []byte, formats []string, codes []byte) heap {
	var b bytes.Buffer
	le := func(v int64) {
		var w [8]byte
		for i := range w {
			w[i] = byte(uint64(v) >> (8 * i))
		}
		b.Write(w[:])
	}
	le(count)
	for _, o := range offsets {
		le(o)
	}
	b.Write(slots)
	for _, f := range formats {
		var w [8]byte
		copy(w[:], f)
		b.Write(w[:])
	}
	b.Write(codes)
	m := newHeap(b.Len())
	copy(m, b.Bytes())
	return m
}

// TestShareableListHostile: images no writer produces are refused with
// ErrBounds or ErrCorrupt, at attach time for the geometry and at Get for
// an item's format and code.
func TestShareableListHostile(t *testing.T) {
	if !littleEndian() {
		t.Skip("the images are built little-endian")
	}
	int8s := make([]byte, 8)
	for _, c := range []struct {
		name string
		mem  heap
		want error
	}{
		{"empty", heap{}, rawarray.ErrBounds},
		{"8 bytes", listImage(0, nil, nil, nil, nil), rawarray.ErrBounds},
		{"negative count", listImage(-1, []int64{0}, nil, nil, nil), rawarray.ErrCorrupt},
		{"count past the memory", listImage(2, []int64{0, 8}, int8s, []string{"q"}, []byte{0}), rawarray.ErrBounds},
		{"huge count", listImage(math.MaxInt64, []int64{0}, nil, nil, nil), rawarray.ErrBounds},
		{"negative offset", listImage(1, []int64{-8, 8}, int8s, []string{"q"}, []byte{0}), rawarray.ErrCorrupt},
		{"decreasing offsets", listImage(1, []int64{8, 0}, int8s, []string{"q"}, []byte{0}), rawarray.ErrCorrupt},
		{"end past the memory", listImage(1, []int64{0, 16}, int8s, []string{"q"}, []byte{0}), rawarray.ErrBounds},
		{"end far past the memory", listImage(1, []int64{0, math.MaxInt64}, int8s, []string{"q"}, []byte{0}), rawarray.ErrCorrupt},
		{"slot beyond any format", listImage(1, []int64{0, 10_000_000}, make([]byte, 10_000_000), []string{"q"}, []byte{0}), rawarray.ErrCorrupt},
	} {
		_, err := rawarray.AttachShareableList(c.mem, 0)
		assert.ErrorIs(t, err, c.want, c.name)
	}

	// Geometry fine, item garbage: Attach succeeds, Get refuses.
	for _, c := range []struct {
		name   string
		format string
		code   byte
		slot   []byte
	}{
		{"empty format", "", 0, int8s},
		{"unknown format", "i", 0, int8s},
		{"other struct format", "2xq", 0, int8s},
		{"bare s", "s", 1, int8s},
		{"NUL inside", "q\x00d", 0, int8s},
		{"s format past the slot", "9s", 1, int8s},
		{"huge s format", "9999999s", 1, int8s},
		{"str code on q", "q", 1, int8s},
		{"bytes code on bool", "xxxxxxx?", 2, int8s},
		{"value code on s", "8s", 0, int8s},
		{"value code on None's format", "xxxxxx?x", 0, int8s},
		{"unknown code", "q", 4, int8s},
		{"negative code", "q", 0xFF, int8s},
		{"str not UTF-8", "8s", 1, []byte{'a', 0xFF, 0, 0, 0, 0, 0, 0}},
		{"q in a short slot", "q", 0, []byte{1, 2, 3, 4}},
	} {
		m := listImage(1, []int64{0, int64(len(c.slot))}, c.slot, []string{c.format}, []byte{c.code})
		l, err := rawarray.AttachShareableList(m, 0)
		require.NoError(t, err, c.name)
		_, err = l.Get(0)
		assert.ErrorIs(t, err, rawarray.ErrCorrupt, c.name)
		_ = l.Format()
	}

	// A slot shorter than 8 bytes (no writer makes one) takes no fixed
	// item; a short str fits.
	m := listImage(1, []int64{0, 4}, []byte("abc\x00"), []string{"4s"}, []byte{1})
	l, err := rawarray.AttachShareableList(m, 0)
	require.NoError(t, err)
	v, err := l.Get(0)
	require.NoError(t, err)
	assert.Equal(t, "abc", v)
	assert.ErrorIs(t, l.Set(0, 1), rawarray.ErrTooLarge)
	require.NoError(t, l.Set(0, []byte("wxyz")))
	v, err = l.Get(0)
	require.NoError(t, err)
	assert.Equal(t, []byte("wxyz"), v)

	// Code 3 means None whatever the (valid) format, as in Python.
	m = listImage(1, []int64{0, 8}, int8s, []string{"q"}, []byte{3})
	l, err = rawarray.AttachShareableList(m, 0)
	require.NoError(t, err)
	v, err = l.Get(0)
	require.NoError(t, err)
	assert.Nil(t, v)

	// A gap before the first slot (offsets[0] > 0) is read as Python
	// reads it.
	m = listImage(1, []int64{8, 16}, append(make([]byte, 8), 7, 0, 0, 0, 0, 0, 0, 0), []string{"q"}, []byte{0})
	l, err = rawarray.AttachShareableList(m, 0)
	require.NoError(t, err)
	v, err = l.Get(0)
	require.NoError(t, err)
	assert.Equal(t, int64(7), v)
}

// TestShareableListConcurrentItems: goroutines reading and writing
// distinct items of one list, and reading one item together, share
// nothing else; under -race, on the heap, this shows that the handle's
// only mutable state, the strings Get keeps, is safely shared.
func TestShareableListConcurrentItems(t *testing.T) {
	const n = 8
	items := make([]any, n+1)
	for i := range items {
		items[i] = strings.Repeat("s", i)
	}
	l, err := rawarray.PlaceShareableList(newHeap(4096), 0, items)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if v, err := l.Get(n); err != nil || v != items[n] {
					t.Errorf("shared item: %v, %v", v, err)
					return
				}
			}
		})
	}
	for i := range n {
		wg.Go(func() {
			for k := range 1000 {
				var v any = int64(k)
				if k%2 == 1 {
					v = strings.Repeat("x", i)
				}
				if err := l.Set(i, v); err != nil {
					t.Error(err)
					return
				}
				got, err := l.Get(i - l.Len())
				if err != nil || fmt.Sprint(got) != fmt.Sprint(v) {
					t.Errorf("item %d: %v, %v; want %v", i, got, err, v)
					return
				}
				_ = l.Len()
			}
		})
	}
	wg.Wait()
}

// slChildItems is the list the cross-process test starts with.
func slChildItems() []any {
	return []any{"parent", int64(1), 2.5, true, nil, []byte("bytes")}
}

// slChildRole: name. Opens the parent's list, checks it, replaces every
// item, and makes a list of its own called name+"-child", left for the
// parent to read and unlink.
func slChildRole() int {
	name := proctest.Args()[0]
	l, err := rawarray.OpenShareableList(name)
	if err != nil {
		return exit(err)
	}
	want := slChildItems()
	if l.Len() != len(want) {
		return exit(fmt.Errorf("length %d, want %d", l.Len(), len(want)))
	}
	for i, w := range want {
		v, err := l.Get(i)
		if err != nil {
			return exit(err)
		}
		if fmt.Sprintf("%#v", v) != fmt.Sprintf("%#v", w) {
			return exit(fmt.Errorf("item %d = %#v, want %#v", i, v, w))
		}
	}
	for i, v := range []any{"child", nil, int64(-2), 0.5, []byte("12345678"), false} {
		if err := l.Set(i, v); err != nil {
			return exit(err)
		}
	}
	if err := l.Set(0, "does not fit"); !errors.Is(err, rawarray.ErrTooLarge) {
		return exit(fmt.Errorf("oversized Set: %v, want ErrTooLarge", err))
	}
	own, err := rawarray.NewShareableList(name+"-child", []any{"from the child", int64(42)})
	if err != nil {
		return exit(err)
	}
	return exit(errors.Join(own.Close(), l.Close()))
}

// TestShareableListAcrossProcesses: a child process opens the parent's
// list by name, reads and rewrites it; the parent opens the child's list.
func TestShareableListAcrossProcesses(t *testing.T) {
	l := newList(t, slChildItems())
	t.Cleanup(func() { _ = shm.Unlink(l.Name() + "-child") }) // whatever the child did
	proctest.Start(t, "sl-child", []string{l.Name()}, nil).MustSucceed(t, childTimeout)
	assert.Equal(t, []any{"child", nil, int64(-2), 0.5, []byte("12345678"), false}, listItems(t, l))
	assert.Equal(t, "8sxxxxxx?xqd8sxxxxxxx?", l.Format())

	c, err := rawarray.OpenShareableList(l.Name() + "-child")
	require.NoError(t, err)
	assert.Equal(t, []any{"from the child", int64(42)}, listItems(t, c))
	require.NoError(t, c.Unlink())
	require.NoError(t, c.Close())
}
