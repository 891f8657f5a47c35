package rawarray_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/shmkit/shmkit/rawarray"
)

// shareableListSeeds are images of valid lists, Python's and Go's, for
// the fuzzer to damage.
func shareableListSeeds() [][]byte {
	var seeds [][]byte
	for _, h := range []string{pyGoldenImage, pyGoldenImageSet} {
		b, err := hex.DecodeString(h)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	for _, items := range [][]any{
		nil,
		{int64(1)},
		{"abc", nil, true, 2.5, []byte("0123456789"), "", int64(math.MinInt64)},
		{"héllo", []byte{0, 0, 1}},
	} {
		size, err := rawarray.ShareableListSize(items)
		if err != nil {
			panic(err)
		}
		m := newHeap(size)
		if _, err := rawarray.PlaceShareableList(m, 0, items); err != nil {
			panic(err)
		}
		seeds = append(seeds, append([]byte(nil), m...))
	}
	return seeds
}

// fuzzValues are written into every item of an attached list.
var fuzzValues = []any{int64(-1), 0.25, false, nil, "", "é", []byte("xy"), "0123456789abcdef"}

// FuzzShareableList attaches a list to arbitrary bytes, as a hostile
// process could lay them out, then reads every item and writes values of
// every type into each. Attach and Get must return a sentinel error or
// data from inside the list; a successful Set must read back; nothing may
// panic or touch memory outside the image. Heap-backed, so -race and
// checkptr watch the accesses.
func FuzzShareableList(f *testing.F) {
	for _, s := range shareableListSeeds() {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := newHeap(len(data))
		copy(mem, data)
		l, err := rawarray.AttachShareableList(mem, 0)
		if err != nil {
			if !errors.Is(err, rawarray.ErrBounds) && !errors.Is(err, rawarray.ErrCorrupt) {
				t.Fatalf("Attach: %v matches neither ErrBounds nor ErrCorrupt", err)
			}
			return
		}
		n := l.Len()
		if n < 0 || 16+17*n > len(mem) {
			t.Fatalf("Attach accepted %d items in %d bytes", n, len(mem))
		}
		if f := l.Format(); len(f) > 8*n {
			t.Fatalf("format %q for %d items", f, n)
		}
		n = min(n, 64) // enough items to reach everything a short image holds
		for _, i := range []int{-n - 1, n} {
			if _, err := l.Get(i); !errors.Is(err, rawarray.ErrIndex) {
				t.Fatalf("Get(%d) of %d items: %v", i, l.Len(), err)
			}
		}
		for i := range n {
			v, err := l.Get(i)
			if err != nil {
				if !errors.Is(err, rawarray.ErrCorrupt) {
					t.Fatalf("Get(%d): %v is not ErrCorrupt", i, err)
				}
			} else {
				switch v.(type) {
				case nil, int64, float64, bool, string, []byte:
				default:
					t.Fatalf("Get(%d) returned a %T", i, v)
				}
			}
			for _, w := range fuzzValues {
				err := l.Set(i, w)
				if err != nil {
					if !errors.Is(err, rawarray.ErrTooLarge) {
						t.Fatalf("Set(%d, %#v): %v is not ErrTooLarge", i, w, err)
					}
					continue
				}
				got, err := l.Get(i - l.Len())
				if err != nil || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", w) {
					t.Fatalf("Set(%d, %#v) then Get: %#v, %v", i, w, got, err)
				}
			}
		}
		if len(mem) != len(data) {
			t.Fatal("memory changed size")
		}
	})
}
