package rawarray_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const childTimeout = proctest.Timeout

// newNamedValue makes a Value in a named segment it owns, unlinked and
// closed when the test ends.
func newNamedValue(t *testing.T) *rawarray.Value[int64] {
	t.Helper()
	v, err := rawarray.NewValueOptions[int64](0, &rawarray.Options{Name: proctest.Name(t)})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, v.Unlink())
		assert.NoError(t, v.Close())
	})
	return v
}

// TestCounterAcrossProcesses is the classic: 4 processes each increment a
// shared Value 100,000 times under its lock; not one increment is lost.
// The children open the Value from its Ref, passed as JSON.
func TestCounterAcrossProcesses(t *testing.T) {
	v := newNamedValue(t)
	const procs, n = 4, 100_000
	arg := refOf(t, v)
	var cs []*proctest.Child
	for range procs {
		cs = append(cs, proctest.Start(t, "count", []string{arg, strconv.Itoa(n)}, nil))
	}
	for _, c := range cs {
		c.MustSucceed(t, childTimeout)
	}
	require.Equal(t, int64(procs*n), v.Load())
}

// TestCounterParentAndChildren has the parent increment too, from several
// goroutines, while children do: the lock excludes goroutines of one
// process and processes alike.
func TestCounterParentAndChildren(t *testing.T) {
	v := newNamedValue(t)
	const procs, n, gs = 2, 50_000, 2
	arg := refOf(t, v)
	var cs []*proctest.Child
	for range procs {
		cs = append(cs, proctest.Start(t, "count", []string{arg, strconv.Itoa(n)}, nil))
	}
	done := make(chan struct{})
	for range gs {
		go func() {
			defer func() { done <- struct{}{} }()
			for range n {
				v.Lock()
				v.Store(v.Load() + 1)
				v.Unlock()
			}
		}()
	}
	for range gs {
		<-done
	}
	for _, c := range cs {
		c.MustSucceed(t, childTimeout)
	}
	require.Equal(t, int64((procs+gs)*n), v.Load())
}

// TestArraysAcrossProcesses: children write disjoint ranges of an Array and
// of a RawArray, with Set and through Slice; the parent sees every element.
func TestArraysAcrossProcesses(t *testing.T) {
	const n, procs = 10_000, 4
	a, err := rawarray.NewArrayOptions[int32](n, &rawarray.Options{Name: proctest.Name(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	defer func() { require.NoError(t, a.Unlink()) }()
	ra, err := rawarray.NewRawArrayOptions[int32](n, &rawarray.Options{Name: proctest.Name(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, ra.Close()) }()
	defer func() { require.NoError(t, ra.Unlink()) }()

	var cs []*proctest.Child
	for _, arg := range []string{refOf(t, a), refOf(t, ra)} {
		for p := range procs {
			lo, hi := p*n/procs, (p+1)*n/procs
			cs = append(cs, proctest.Start(t, "array-write", []string{arg, strconv.Itoa(lo), strconv.Itoa(hi)}, nil))
		}
	}
	for _, c := range cs {
		c.MustSucceed(t, childTimeout)
	}
	require.Equal(t, n, a.Len())
	require.Equal(t, n, ra.Len())
	a.Lock()
	s := a.Slice()
	for i := range n {
		if s[i] != arrayElem(i) || a.At(i) != arrayElem(i) || ra.At(i) != arrayElem(i) {
			t.Fatalf("element %d: Array %d (At %d), RawArray %d; want %d", i, s[i], a.At(i), ra.At(i), arrayElem(i))
		}
	}
	a.Unlock()
}

// TestSliceZeroCopyAcrossProcesses: the parent writes through a Slice it
// took once, a child checks and rewrites the elements through its own
// Slice, and the parent sees the child's writes through the same slice: no
// copy anywhere. The segment is anonymous and reaches the child by
// descriptor.
func TestSliceZeroCopyAcrossProcesses(t *testing.T) {
	const n = 4096
	a, err := rawarray.NewRawArray[float64](n)
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	s := a.Slice()
	for i := range s {
		s[i] = float64(i) / 2
	}
	ref, err := a.Ref()
	require.NoError(t, err)
	require.Empty(t, ref.Name)
	require.Equal(t, -1, ref.Fd)
	ref.Fd = 3
	f, err := a.File()
	require.NoError(t, err)
	c := proctest.Start(t, "slice-echo", []string{refArg(t, ref)}, &proctest.Options{Files: []*os.File{f}})
	require.NoError(t, f.Close())
	c.MustSucceed(t, childTimeout)
	for i := range s {
		if s[i] != -float64(i)/2 {
			t.Fatalf("element %d = %v, want %v", i, s[i], -float64(i)/2)
		}
	}
}

// TestAnonymousByDescriptor: an anonymous Value and a RawArray in one
// caller's anonymous segment, opened by a child from one inherited
// descriptor (fd 3); the parent increments concurrently.
func TestAnonymousByDescriptor(t *testing.T) {
	seg, err := shm.Anonymous(4096)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	v, err := rawarray.PlaceValue[int64](seg, 0, 0)
	require.NoError(t, err)
	const n = 20_000
	a, err := rawarray.PlaceRawArray[uint8](seg, rawarray.ValueSize, 100)
	require.NoError(t, err)
	f, err := v.File()
	require.NoError(t, err)
	c := proctest.Start(t, "fd-open", []string{refOf(t, v), refOf(t, a), strconv.Itoa(n)},
		&proctest.Options{Files: []*os.File{f}})
	require.NoError(t, f.Close())
	for range n {
		v.Lock()
		v.Store(v.Load() + 1)
		v.Unlock()
	}
	c.MustSucceed(t, childTimeout)
	assert.Equal(t, int64(2*n), v.Load())
	for i, x := range a.Slice() {
		require.Equal(t, uint8(0xAB), x, "element %d", i)
	}
	require.NoError(t, v.Close())
	require.NoError(t, a.Close())
	assert.NotNil(t, seg.Bytes(), "closing placed objects leaves the segment mapped")
}

// TestPlacedObjects places one object of each kind in one named segment at
// chosen offsets; a child attaches them by (segment name, offset), checks
// that wrong offsets, kinds and types are refused, and updates each.
func TestPlacedObjects(t *testing.T) {
	const aLen, raLen = 37, 101
	p := placed{V: 0, ALen: aLen, RALen: raLen}
	p.RV = p.V + rawarray.ValueSize
	p.A = p.RV + rawarray.RawValueSize + 64 // a gap of zeros
	p.RA = p.A + rawarray.ArraySize[float64](aLen)
	size := p.RA + rawarray.RawArraySize[uint16](raLen)

	name := proctest.Name(t)
	seg, err := shm.Create(name, int64(size), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	defer func() { require.NoError(t, seg.Unlink()) }()

	v, err := rawarray.PlaceValue[int32](seg, p.V, 21)
	require.NoError(t, err)
	rv, err := rawarray.PlaceRawValue(seg, p.RV, false)
	require.NoError(t, err)
	a, err := rawarray.PlaceArray[float64](seg, p.A, aLen)
	require.NoError(t, err)
	ra, err := rawarray.PlaceRawArray[uint16](seg, p.RA, raLen)
	require.NoError(t, err)
	for i := range aLen {
		a.Set(i, float64(i))
	}
	for i := range raLen {
		ra.Set(i, uint16(1000+i))
	}
	_, err = rawarray.PlaceRawArray[uint16](seg, p.RA+8, raLen)
	require.ErrorIs(t, err, rawarray.ErrBounds, "the last object is sized exactly")

	pj, err := json.Marshal(p)
	require.NoError(t, err)
	proctest.Start(t, "attach-check", []string{name, string(pj)}, nil).MustSucceed(t, childTimeout)

	assert.Equal(t, int32(42), v.Load())
	assert.True(t, rv.Load())
	for i := range aLen {
		require.Equal(t, float64(i)+0.5, a.At(i))
	}
	for i := range raLen {
		require.Equal(t, uint16(1001+i), ra.At(i))
	}
	for _, off := range []int{p.V, p.RV, p.A, p.RA} {
		info, err := rawarray.Inspect(seg, off)
		require.NoError(t, err)
		t.Logf("offset %4d: %+v", off, info)
	}
	require.NoError(t, errors.Join(v.Close(), rv.Close(), a.Close(), ra.Close()))
}

// TestOwnerDiedHoldingLock: a child dies holding a Value's lock in the
// middle of an update; the parent learns of it through the lock
// (locks.ErrOwnerDead), repairs the value, and the lock works again.
func TestOwnerDiedHoldingLock(t *testing.T) {
	seg, err := shm.Create(proctest.Name(t), 4096, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	defer func() { require.NoError(t, seg.Unlink()) }()
	v, err := rawarray.PlaceValue(seg, 0, int64(10))
	require.NoError(t, err)
	flag, err := rawarray.PlaceRawValue(seg, rawarray.ValueSize, int32(0))
	require.NoError(t, err)

	c := proctest.Start(t, "die-holding", []string{refOf(t, v), refOf(t, flag)}, nil)
	deadline := time.Now().Add(childTimeout)
	for flag.Load() != 1 {
		require.True(t, time.Now().Before(deadline), "child never took the lock")
		time.Sleep(time.Millisecond)
	}
	require.False(t, v.Mutex().TryLock(), "the child holds the lock")
	c.Kill()

	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	err = v.Mutex().LockContext(ctx)
	require.ErrorIs(t, err, locks.ErrOwnerDead)
	assert.Equal(t, int64(-1), v.Load(), "the dead holder's half-done update")
	v.Store(10)
	v.Mutex().MarkConsistent()
	v.Unlock()

	v.Lock()
	v.Store(v.Load() + 1)
	v.Unlock()
	assert.Equal(t, int64(11), v.Load())
}
