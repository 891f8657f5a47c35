package rawarray_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/internal/baseline"
	"github.com/shmkit/shmkit/rawarray"
)

// pyShareableListScript is the baseline: Python's ShareableList, in a
// segment of its own, read (sl[i]) and written (sl[i] = v) n times per
// timing, best of 5, for an int and a str item. It prints ns per access.
const pyShareableListScript = `
import sys, timeit
from multiprocessing.shared_memory import ShareableList

sl = ShareableList([12345, "abcdefgh", 2.5, None])
n = int(sys.argv[1])
def best(stmt):
    return min(timeit.repeat(stmt, globals={"sl": sl}, number=n, repeat=5)) / n * 1e9
print("Get/int=%.2f" % best("sl[0]"))
print("Get/str=%.2f" % best("sl[1]"))
print("Set/int=%.2f" % best("sl[0] = 54321"))
print("Set/str=%.2f" % best("sl[1] = 'hgfedcba'"))
print("SetGet/str=%.2f" % best("sl[1] = 'hgfedcba'; sl[1]"))
sl.shm.close()
sl.shm.unlink()
`

// pyShareableList runs the Python baseline once per test binary.
var pyShareableList = sync.OnceValues(func() (baseline.Result, error) {
	r, err := baseline.Python(pyShareableListScript, "200000")
	if err != nil {
		return nil, err
	}
	if _, ok := r["Get/int"]; !ok {
		return nil, errors.New("python baseline printed no Get/int")
	}
	return r, nil
})

// BenchmarkShareableList reads and writes an int and a str item of a
// ShareableList in a named segment, next to Python's ShareableList doing
// the same in the same run: py-ns/op is Python's time per access, x-py
// how many times faster Go is.
//
// Get/str reads an unchanged item, which Get answers from the string it
// read last (no allocation); SetGet/str writes a new string before every
// read, so every Get decodes and allocates: the cost when a peer keeps
// changing the item.
func BenchmarkShareableList(b *testing.B) {
	l, err := rawarray.NewShareableList("", []any{12345, "abcdefgh", 2.5, nil})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = l.Unlink()
		_ = l.Close()
	}()
	var sink any
	strs, alt := [2]string{"hgfedcba", "abcdefgh"}, 0
	for _, bm := range []struct {
		name string
		op   func() error
	}{
		{"Get/int", func() (err error) { sink, err = l.Get(0); return err }},
		{"Get/str", func() (err error) { sink, err = l.Get(1); return err }},
		{"Set/int", func() error { return l.Set(0, int64(54321)) }},
		{"Set/str", func() error { return l.Set(1, "hgfedcba") }},
		{"SetGet/str", func() (err error) {
			alt = 1 - alt
			if err = l.Set(1, strs[alt]); err == nil {
				sink, err = l.Get(1)
			}
			return err
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bm.op(); err != nil {
					b.Fatal(err)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			r, err := pyShareableList()
			if err != nil {
				b.Logf("no Python baseline: %v", err)
				return
			}
			b.ReportMetric(r[bm.name], "py-ns/op")
			b.ReportMetric(r[bm.name]/ns, "x-py")
		})
	}
	_ = sink
}
