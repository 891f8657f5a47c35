package rawarray_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
)

// Roles played by re-executed copies of the test binary. Arguments are
// references as JSON, names and numbers; a role exits 0 on success and
// explains any failure on stderr.
var roles = map[string]proctest.Role{
	"count":        countRole,
	"array-write":  arrayWriteRole,
	"slice-echo":   sliceEchoRole,
	"attach-check": attachCheckRole,
	"fd-open":      fdOpenRole,
	"bench-incr":   benchIncrRole,
	"die-holding":  dieHoldingRole,
}

func TestMain(m *testing.M) {
	proctest.Main(m, roles)
}

// heap is memory on the Go heap, where the race detector sees every
// access; rawarray places objects in it like in a segment.
type heap []byte

func (h heap) Bytes() []byte { return h }

// newHeap returns n bytes of Align-aligned heap memory.
func newHeap(n int) heap {
	buf := make([]byte, n+rawarray.Align)
	off := ctypes.AlignOffset(buf, rawarray.Align)
	return heap(buf[off : off+n])
}

// refOf encodes an object's reference for a child's command line.
func refOf(t testing.TB, obj interface{ Ref() (rawarray.Ref, error) }) string {
	t.Helper()
	ref, err := obj.Ref()
	if err != nil {
		t.Fatal(err)
	}
	return refArg(t, ref)
}

// refArg encodes a reference for a child's command line.
func refArg(t testing.TB, ref rawarray.Ref) string {
	t.Helper()
	b, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exit reports a child's failure, if any, and returns its exit status.
func exit(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func parseRef(s string) (rawarray.Ref, error) {
	var ref rawarray.Ref
	err := json.Unmarshal([]byte(s), &ref)
	return ref, err
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// countRole: ref, n. The classic: n increments of a shared Value under its
// lock.
func countRole() int {
	args := proctest.Args()
	ref, err := parseRef(args[0])
	if err != nil {
		return exit(err)
	}
	v, err := rawarray.OpenValue[int64](ref)
	if err != nil {
		return exit(err)
	}
	for range atoi(args[1]) {
		v.Lock()
		v.Store(v.Load() + 1)
		v.Unlock()
	}
	return exit(v.Close())
}

// arrayElem is what arrayWriteRole writes at index i.
func arrayElem(i int) int32 { return int32(i*7 + 1) }

// arrayWriteRole: ref, lo, hi. Writes arrayElem(i) at [lo, hi) of an
// Array[int32] (with Set, half of it under the lock through Slice) or a
// RawArray[int32] (with Set and Slice), whichever ref names.
func arrayWriteRole() int {
	args := proctest.Args()
	ref, err := parseRef(args[0])
	if err != nil {
		return exit(err)
	}
	lo, hi := atoi(args[1]), atoi(args[2])
	mid := (lo + hi) / 2
	switch ref.Kind {
	case rawarray.KindArray:
		a, err := rawarray.OpenArray[int32](ref)
		if err != nil {
			return exit(err)
		}
		for i := lo; i < mid; i++ {
			a.Set(i, arrayElem(i))
		}
		a.Lock()
		s := a.Slice()
		for i := mid; i < hi; i++ {
			s[i] = arrayElem(i)
		}
		a.Unlock()
		return exit(a.Close())
	case rawarray.KindRawArray:
		a, err := rawarray.OpenRawArray[int32](ref)
		if err != nil {
			return exit(err)
		}
		for i := lo; i < mid; i++ {
			a.Set(i, arrayElem(i))
		}
		s := a.Slice()
		for i := mid; i < hi; i++ {
			s[i] = arrayElem(i)
		}
		return exit(a.Close())
	}
	return exit(fmt.Errorf("unexpected kind %s", ref.Kind))
}

// sliceEchoRole: ref of a RawArray[float64] the parent filled with i/2.
// Checks it through Slice and negates every element in place.
func sliceEchoRole() int {
	ref, err := parseRef(proctest.Args()[0])
	if err != nil {
		return exit(err)
	}
	a, err := rawarray.OpenRawArray[float64](ref)
	if err != nil {
		return exit(err)
	}
	s := a.Slice()
	for i := range s {
		if s[i] != float64(i)/2 {
			return exit(fmt.Errorf("element %d = %v, want %v", i, s[i], float64(i)/2))
		}
		s[i] = -s[i]
	}
	return exit(a.Close())
}

// placed describes the objects TestPlacedObjects puts in one segment.
type placed struct {
	V, RV, A, RA int // offsets
	ALen, RALen  int
}

// attachCheckRole: segment name, placement as JSON. Attaches each object
// by (segment, offset), checks that wrong offsets, kinds and types are
// refused with the right errors, then updates every object.
func attachCheckRole() int {
	args := proctest.Args()
	var p placed
	if err := json.Unmarshal([]byte(args[1]), &p); err != nil {
		return exit(err)
	}
	seg, err := shm.Open(args[0], nil)
	if err != nil {
		return exit(err)
	}
	defer seg.Close()
	v, err := rawarray.AttachValue[int32](seg, p.V)
	if err != nil {
		return exit(err)
	}
	rv, err := rawarray.AttachRawValue[bool](seg, p.RV)
	if err != nil {
		return exit(err)
	}
	a, err := rawarray.AttachArray[float64](seg, p.A)
	if err != nil {
		return exit(err)
	}
	ra, err := rawarray.AttachRawArray[uint16](seg, p.RA)
	if err != nil {
		return exit(err)
	}
	if a.Len() != p.ALen || ra.Len() != p.RALen {
		return exit(fmt.Errorf("lengths %d, %d; want %d, %d", a.Len(), ra.Len(), p.ALen, p.RALen))
	}
	for _, c := range []struct {
		what string
		err  error
		want error
	}{
		{"Value inside the Value", second(rawarray.AttachValue[int32](seg, p.V+8)), rawarray.ErrBadMagic},
		{"Value at an odd offset", second(rawarray.AttachValue[int32](seg, p.V+4)), rawarray.ErrMisaligned},
		{"Value past the end", second(rawarray.AttachValue[int32](seg, int(seg.Size()))), rawarray.ErrBounds},
		{"Value as float32", second(rawarray.AttachValue[float32](seg, p.V)), rawarray.ErrType},
		{"Value as RawValue", second(rawarray.AttachRawValue[int32](seg, p.V)), rawarray.ErrKind},
		{"Array as RawArray", second(rawarray.AttachRawArray[float64](seg, p.A)), rawarray.ErrKind},
		{"RawArray as int16", second(rawarray.AttachRawArray[int16](seg, p.RA)), rawarray.ErrType},
	} {
		if !errors.Is(c.err, c.want) {
			return exit(fmt.Errorf("%s: %v, want %v", c.what, c.err, c.want))
		}
	}
	v.Lock()
	v.Store(v.Load() * 2)
	v.Unlock()
	rv.Store(!rv.Load())
	for i := range a.Len() {
		a.Set(i, a.At(i)+0.5)
	}
	for i, x := range ra.Slice() {
		ra.Slice()[i] = x + 1
	}
	return exit(errors.Join(v.Close(), rv.Close(), a.Close(), ra.Close()))
}

func second[T any](_ T, err error) error { return err }

// fdOpenRole: ref of a Value[int64] and ref of a RawArray[uint8], both in
// the anonymous segment inherited as descriptor 3, with Fd unset. Opens
// both from the one descriptor, increments the Value n times under its
// lock and fills the array with 0xAB.
func fdOpenRole() int {
	args := proctest.Args()
	vref, err := parseRef(args[0])
	if err != nil {
		return exit(err)
	}
	aref, err := parseRef(args[1])
	if err != nil {
		return exit(err)
	}
	// Without Fd, the segment's own reference is all there is, and this
	// child was handed the descriptor but not told which segment it is.
	if _, err := rawarray.OpenValue[int64](vref); !errors.Is(err, shm.ErrNoRef) {
		return exit(fmt.Errorf("open with Fd -1: %v, want shm.ErrNoRef", err))
	}
	vref.Fd, aref.Fd = 3, 3
	v, err := rawarray.OpenValue[int64](vref)
	if err != nil {
		return exit(err)
	}
	a, err := rawarray.OpenRawArray[uint8](aref)
	if err != nil {
		return exit(err)
	}
	for range atoi(args[2]) {
		v.Lock()
		v.Store(v.Load() + 1)
		v.Unlock()
	}
	for i := range a.Len() {
		a.Set(i, 0xAB)
	}
	return exit(errors.Join(v.Close(), a.Close()))
}

// dieHoldingRole: ref of a Value[int64], ref of a RawValue[int32] flag.
// Takes the Value's lock, half-updates the value, raises the flag and
// waits to be killed.
func dieHoldingRole() int {
	args := proctest.Args()
	vref, err := parseRef(args[0])
	if err != nil {
		return exit(err)
	}
	fref, err := parseRef(args[1])
	if err != nil {
		return exit(err)
	}
	v, err := rawarray.OpenValue[int64](vref)
	if err != nil {
		return exit(err)
	}
	flag, err := rawarray.OpenRawValue[int32](fref)
	if err != nil {
		return exit(err)
	}
	v.Lock()
	v.Store(-1) // a half-done update the next holder must repair
	flag.Store(1)
	for {
		time.Sleep(time.Hour)
	}
}
