package rawarray_test

import (
	"errors"
	"io/fs"
	"math"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testValue checks a Value and a RawValue of T holding init, then x.
func testValue[T ctypes.Scalar](t *testing.T, init, x T) {
	t.Run(ctypes.TypeOf[T]().CName, func(t *testing.T) {
		v, err := rawarray.NewValue(init)
		require.NoError(t, err)
		assert.Equal(t, init, v.Load())
		v.Store(x)
		assert.Equal(t, x, v.Load())
		v.Lock()
		v.Store(init)
		v.Unlock()
		assert.Equal(t, init, v.Load())
		ref, err := v.Ref()
		require.NoError(t, err)
		assert.NotZero(t, ref.Seg.ID, "an anonymous object's Ref carries its segment's reference")
		ref.Seg = shm.Ref{}
		assert.Equal(t, rawarray.Ref{Kind: rawarray.KindValue, Code: ctypes.TypeOf[T]().Code,
			ElemSize: ctypes.TypeOf[T]().Size, Len: 1, Fd: -1}, ref)
		require.NoError(t, v.Close())
		require.NoError(t, v.Close(), "Close is idempotent")
		assert.Panics(t, func() { v.Load() }, "use after Close")

		rv, err := rawarray.NewRawValue(init)
		require.NoError(t, err)
		assert.Equal(t, init, rv.Load())
		rv.Store(x)
		assert.Equal(t, x, rv.Load())
		require.NoError(t, rv.Close())
		require.NoError(t, rv.Close())
	})
}

type celsius float64 // a named type counts by its underlying type

func TestValueTypes(t *testing.T) {
	testValue(t, int8(-3), math.MaxInt8)
	testValue(t, uint8(3), math.MaxUint8)
	testValue(t, int16(-300), math.MinInt16)
	testValue(t, uint16(300), math.MaxUint16)
	testValue(t, int32(-70000), math.MinInt32)
	testValue(t, uint32(70000), math.MaxUint32)
	testValue(t, int64(-1<<40), math.MinInt64)
	testValue(t, uint64(1<<40), math.MaxUint64)
	testValue(t, int(-5), math.MaxInt)
	testValue(t, uint(5), math.MaxUint)
	testValue(t, uintptr(5), math.MaxUint64)
	testValue(t, float32(1.5), -math.MaxFloat32)
	testValue(t, 2.5, math.Inf(-1))
	testValue(t, true, false)
	testValue(t, celsius(-40), 100)
}

// TestSubwordNeighbours: elements of 1 and 2 bytes are written through the
// 4-byte word that contains them; writing one never disturbs the others,
// whatever its position in the word.
func TestSubwordNeighbours(t *testing.T) {
	a8, err := rawarray.NewArray[uint8](13)
	require.NoError(t, err)
	defer a8.Close()
	a16, err := rawarray.NewArray[int16](7)
	require.NoError(t, err)
	defer a16.Close()
	for i := range a8.Len() {
		a8.Set(i, uint8(0xF0+i))
	}
	for i := range a16.Len() {
		a16.Set(i, int16(-1000*i-1))
	}
	for i := range a8.Len() {
		assert.Equal(t, uint8(0xF0+i), a8.At(i))
		assert.Equal(t, uint8(0xF0+i), a8.Slice()[i])
	}
	for i := range a16.Len() {
		assert.Equal(t, int16(-1000*i-1), a16.At(i))
		assert.Equal(t, int16(-1000*i-1), a16.Slice()[i])
	}
}

// TestBoolGarbage: a bool element holding a byte other than 0 or 1, as a
// hostile peer could write, reads as true through Load and At.
func TestBoolGarbage(t *testing.T) {
	mem := newHeap(256)
	rv, err := rawarray.PlaceRawValue(mem, 0, false)
	require.NoError(t, err)
	v, err := rawarray.PlaceValue(mem, 64, false)
	require.NoError(t, err)
	a, err := rawarray.PlaceArray[bool](mem, 128, 3)
	require.NoError(t, err)
	ra, err := rawarray.PlaceRawArray[bool](mem, 200, 3)
	require.NoError(t, err)
	mem[32] = 0x7f // rv's slot
	mem[64+56] = 2 // v's slot
	mem[128+56+1] = 0xff
	mem[200+32+2] = 0x80
	for _, got := range []bool{rv.Load(), v.Load(), a.At(1), ra.At(2)} {
		assert.True(t, got)
		assert.True(t, got == true) // the comparison itself is the point
		assert.False(t, !got)
	}
	assert.False(t, a.At(0))
	assert.False(t, ra.At(0))
}

func TestCodes(t *testing.T) {
	for _, c := range []struct {
		code string
		ok   func(code string) error
	}{
		{"l", func(c string) error { _, err := rawarray.CheckCode[int64](c); return err }},
		{"q", func(c string) error { _, err := rawarray.CheckCode[int](c); return err }},
		{"L", func(c string) error { _, err := rawarray.CheckCode[uintptr](c); return err }},
		{"c", func(c string) error { _, err := rawarray.CheckCode[byte](c); return err }},
		{"d", func(c string) error { _, err := rawarray.CheckCode[celsius](c); return err }},
		{"", func(c string) error { _, err := rawarray.CheckCode[bool](c); return err }},
	} {
		assert.NoError(t, c.ok(c.code), "code %q", c.code)
	}
	for _, c := range []struct {
		code string
		err  error
	}{
		{"d", second(rawarray.CheckCode[float32]("d"))},
		{"i", second(rawarray.CheckCode[uint32]("i"))},
		{"c", second(rawarray.CheckCode[int8]("c"))},
		{"?", second(rawarray.CheckCode[uint8]("?"))},
		{"q", second(rawarray.CheckCode[float64]("q"))},
	} {
		assert.ErrorIs(t, c.err, rawarray.ErrType, "code %q", c.code)
	}
	_, err := rawarray.CheckCode[int32]("z")
	assert.ErrorIs(t, err, rawarray.ErrType)
	assert.ErrorIs(t, err, ctypes.ErrUnknownCode)

	// Every code fits exactly the Go types of its canonical Go type.
	for _, ty := range ctypes.Types() {
		_, err := rawarray.CheckCode[int64](ty.Code)
		assert.Equal(t, ty.GoType.Name() == "int64", err == nil, "code %q with int64: %v", ty.Code, err)
	}

	v, err := rawarray.NewValueCode[int64]("l", 7)
	require.NoError(t, err)
	defer v.Close()
	ref, err := v.Ref()
	require.NoError(t, err)
	assert.Equal(t, "l", ref.Code)
	a, err := rawarray.NewArrayCode[uint8]("c", 4)
	require.NoError(t, err)
	defer a.Close()
	ref, err = a.Ref()
	require.NoError(t, err)
	assert.Equal(t, "c", ref.Code)
	_, err = rawarray.NewRawArrayCode[float64]("f", 4)
	assert.ErrorIs(t, err, rawarray.ErrType)
	_, err = rawarray.NewRawValueCode[int32]("x", 0)
	assert.ErrorIs(t, err, rawarray.ErrType)
	rv, err := rawarray.NewRawValueCode[int32]("i", -1)
	require.NoError(t, err)
	assert.Equal(t, int32(-1), rv.Load())
	require.NoError(t, rv.Close())
	ra, err := rawarray.NewRawArrayCode[int16]("h", 2)
	require.NoError(t, err)
	assert.Equal(t, 2, ra.Len())
	require.NoError(t, ra.Close())
}

func TestOptions(t *testing.T) {
	mem := newHeap(256)
	_, err := rawarray.NewValueOptions(1, &rawarray.Options{In: mem, Name: "x"})
	assert.ErrorIs(t, err, rawarray.ErrOptions)
	_, err = rawarray.NewValueOptions(1, &rawarray.Options{In: mem, Shm: &shm.Options{}})
	assert.ErrorIs(t, err, rawarray.ErrOptions)
	_, err = rawarray.NewValueOptions(1, &rawarray.Options{Offset: 8})
	assert.ErrorIs(t, err, rawarray.ErrOptions)
	_, err = rawarray.NewArray[int64](-1)
	assert.ErrorIs(t, err, rawarray.ErrLength)
	_, err = rawarray.NewRawArray[int64](math.MaxInt / 4)
	assert.ErrorIs(t, err, rawarray.ErrLength)
	_, err = rawarray.PlaceRawArray[int64](mem, 0, math.MaxInt/16)
	assert.ErrorIs(t, err, rawarray.ErrBounds)
	assert.Panics(t, func() { rawarray.ArraySize[int32](-1) })
	assert.Panics(t, func() { rawarray.RawArraySize[int64](math.MaxInt / 8) })

	// A named own segment: exclusive, and removed by Unlink.
	name := proctest.Name(t)
	v, err := rawarray.NewValueOptions(int32(5), &rawarray.Options{Name: name, Shm: &shm.Options{Mode: 0o640}})
	require.NoError(t, err)
	_, err = rawarray.NewRawArrayOptions[int8](3, &rawarray.Options{Name: name})
	assert.ErrorIs(t, err, fs.ErrExist)
	peer, err := shm.Open(name, nil)
	require.NoError(t, err)
	pv, err := rawarray.AttachValue[int32](peer, 0)
	require.NoError(t, err)
	assert.Equal(t, int32(5), pv.Load())
	require.NoError(t, pv.Close())
	require.NotNil(t, peer.Bytes(), "an attached Value does not own its memory")
	require.NoError(t, peer.Close())
	require.NoError(t, v.Unlink())
	assert.ErrorIs(t, v.Unlink(), fs.ErrNotExist)
	require.NoError(t, v.Close())
	_, err = shm.Open(name, nil)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the name is gone")

	// Anonymous: Unlink does nothing.
	a, err := rawarray.NewArray[float32](0)
	require.NoError(t, err)
	assert.Equal(t, 0, a.Len())
	assert.NotNil(t, a.Slice())
	assert.Empty(t, a.Slice())
	require.NoError(t, a.Unlink())
	require.NoError(t, a.Close())
}

// TestPlaceOverwrites: placing an object resets whatever was there, lock
// and data included.
func TestPlaceOverwrites(t *testing.T) {
	mem := newHeap(rawarray.ArraySize[int64](8))
	a, err := rawarray.PlaceArray[int64](mem, 0, 8)
	require.NoError(t, err)
	for i := range 8 {
		a.Set(i, -1)
	}
	require.True(t, a.Mutex().TryLock())
	a.Unlock()
	a.Lock()
	b, err := rawarray.PlaceRawArray[int32](mem, 0, 3)
	require.NoError(t, err)
	assert.Equal(t, []int32{0, 0, 0}, b.Slice())
	a2, err := rawarray.PlaceArray[int64](mem, 0, 8)
	require.NoError(t, err)
	assert.True(t, a2.Mutex().TryLock(), "the new lock is unlocked")
	a2.Unlock()
	for i := range 8 {
		assert.Zero(t, a2.At(i))
	}
	_, err = rawarray.PlaceArray[int64](mem, 0, 9)
	assert.ErrorIs(t, err, rawarray.ErrBounds)
}

// TestCloseLeavesCallerMemory: objects placed in a caller's segment never
// close it; objects that own their segment do.
func TestCloseLeavesCallerMemory(t *testing.T) {
	seg, err := shm.Anonymous(4096)
	require.NoError(t, err)
	defer seg.Close()
	v, err := rawarray.PlaceValue(seg, 0, 1.5)
	require.NoError(t, err)
	require.NoError(t, v.Close())
	require.NoError(t, v.Unlink())
	w, err := rawarray.AttachValue[float64](seg, 0)
	require.NoError(t, err)
	assert.Equal(t, 1.5, w.Load())
	require.NoError(t, w.Close())
	_, err = v.Ref()
	assert.ErrorIs(t, err, rawarray.ErrClosed)
	_, err = v.File()
	assert.ErrorIs(t, err, rawarray.ErrClosed)

	require.NoError(t, seg.Close())
	_, err = rawarray.AttachValue[float64](seg, 0)
	assert.ErrorIs(t, err, rawarray.ErrClosed)
	_, err = rawarray.PlaceValue(seg, 0, 1.5)
	assert.ErrorIs(t, err, rawarray.ErrClosed)
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{rawarray.ErrBadMagic, rawarray.ErrVersion, rawarray.ErrKind, rawarray.ErrType,
		rawarray.ErrBounds, rawarray.ErrMisaligned, rawarray.ErrCorrupt, rawarray.ErrLength,
		rawarray.ErrRef, rawarray.ErrNoRef, rawarray.ErrReadOnly, rawarray.ErrOptions, rawarray.ErrClosed}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}
