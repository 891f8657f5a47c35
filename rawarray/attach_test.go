package rawarray_test

import (
	"encoding/binary"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Header field offsets, from the published layout (doc.go).
const (
	hMagic    = 0
	hVersion  = 4
	hKind     = 6
	hCode     = 7
	hElemSize = 8
	hLockKind = 10
	hFlags    = 11
	hDataOff  = 12
	hLength   = 16
	hReserved = 24
)

var ne = binary.NativeEndian

// TestHeaderBytes checks the bytes Place writes against the published
// layout, field by field.
func TestHeaderBytes(t *testing.T) {
	mem := newHeap(512)
	_, err := rawarray.PlaceArray[int16](mem, 64, 5)
	require.NoError(t, err)
	h := []byte(mem[64:])
	assert.Equal(t, "SHRA", string(h[:4]), "magic as bytes on little-endian machines")
	assert.Equal(t, uint32(0x41524853), ne.Uint32(h[hMagic:]))
	assert.Equal(t, uint16(1), ne.Uint16(h[hVersion:]))
	assert.Equal(t, byte(rawarray.KindArray), h[hKind])
	assert.Equal(t, byte('h'), h[hCode])
	assert.Equal(t, uint16(2), ne.Uint16(h[hElemSize:]))
	assert.Equal(t, byte(1), h[hLockKind])
	assert.Equal(t, byte(0), h[hFlags])
	assert.Equal(t, uint32(56), ne.Uint32(h[hDataOff:]))
	assert.Equal(t, uint64(5), ne.Uint64(h[hLength:]))
	assert.Equal(t, uint64(0), ne.Uint64(h[hReserved:]))
	assert.Equal(t, make([]byte, 24), h[32:56], "unlocked Mutex and reserved bytes")

	_, err = rawarray.PlaceRawValue(mem, 256, uint16(0xBEEF))
	require.NoError(t, err)
	h = []byte(mem[256:])
	assert.Equal(t, byte(rawarray.KindRawValue), h[hKind])
	assert.Equal(t, byte(0), h[hLockKind])
	assert.Equal(t, uint32(32), ne.Uint32(h[hDataOff:]))
	assert.Equal(t, uint64(1), ne.Uint64(h[hLength:]))
	assert.Equal(t, uint16(0xBEEF), ne.Uint16(h[32:]))
	assert.Equal(t, make([]byte, 6), h[34:40], "the slot's padding")
}

// TestAttachErrors damages one header field at a time; each damage maps to
// its sentinel, and nothing panics.
func TestAttachErrors(t *testing.T) {
	const off = 128
	fresh := func() heap {
		mem := newHeap(off + rawarray.ArraySize[int32](10) + 64)
		_, err := rawarray.PlaceArray[int32](mem, off, 10)
		require.NoError(t, err)
		return mem
	}
	for _, c := range []struct {
		name   string
		damage func(h []byte)
		want   error
	}{
		{"magic", func(h []byte) { h[hMagic]++ }, rawarray.ErrBadMagic},
		{"version", func(h []byte) { ne.PutUint16(h[hVersion:], 2) }, rawarray.ErrVersion},
		{"kind zero", func(h []byte) { h[hKind] = 0 }, rawarray.ErrCorrupt},
		{"kind unknown", func(h []byte) { h[hKind] = 9 }, rawarray.ErrCorrupt},
		{"code unknown", func(h []byte) { h[hCode] = 'z' }, rawarray.ErrType},
		{"code other type", func(h []byte) { h[hCode] = 'f' }, rawarray.ErrType},
		{"element size", func(h []byte) { ne.PutUint16(h[hElemSize:], 8) }, rawarray.ErrCorrupt},
		{"lock kind", func(h []byte) { h[hLockKind] = 0 }, rawarray.ErrCorrupt},
		{"flags", func(h []byte) { h[hFlags] = 1 }, rawarray.ErrCorrupt},
		{"data offset", func(h []byte) { ne.PutUint32(h[hDataOff:], 32) }, rawarray.ErrCorrupt},
		{"reserved", func(h []byte) { h[hReserved+7] = 1 }, rawarray.ErrCorrupt},
		{"length past the end", func(h []byte) { ne.PutUint64(h[hLength:], 100) }, rawarray.ErrBounds},
		{"length huge", func(h []byte) { ne.PutUint64(h[hLength:], 1<<62) }, rawarray.ErrBounds},
		{"length negative", func(h []byte) { ne.PutUint64(h[hLength:], 1<<63) }, rawarray.ErrBounds},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := fresh()
			c.damage(mem[off:])
			_, err := rawarray.AttachArray[int32](mem, off)
			assert.ErrorIs(t, err, c.want)
			_, err = rawarray.Inspect(mem, off)
			if c.want != rawarray.ErrType || c.name == "code unknown" {
				assert.ErrorIs(t, err, c.want, "Inspect")
			}
		})
	}

	mem := fresh()
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"negative offset", second(rawarray.AttachArray[int32](mem, -8)), rawarray.ErrBounds},
		{"offset past the end", second(rawarray.AttachArray[int32](mem, len(mem)+8)), rawarray.ErrBounds},
		{"no room for a header", second(rawarray.AttachArray[int32](mem, len(mem)-8)), rawarray.ErrBounds},
		{"misaligned offset", second(rawarray.AttachArray[int32](mem, off+4)), rawarray.ErrMisaligned},
		{"misaligned memory", second(rawarray.AttachArray[int32](mem[4:], off-4)), rawarray.ErrMisaligned},
		{"empty space", second(rawarray.AttachArray[int32](mem, 0)), rawarray.ErrBadMagic},
		{"wrong kind", second(rawarray.AttachRawArray[int32](mem, off)), rawarray.ErrKind},
		{"wrong type", second(rawarray.AttachArray[uint32](mem, off)), rawarray.ErrType},
		{"truncated memory", second(rawarray.AttachArray[int32](mem[:off+rawarray.ArraySize[int32](10)-8], off)), rawarray.ErrBounds},
		{"nil memory", second(rawarray.AttachArray[int32](nil, 0)), rawarray.ErrBounds},
		{"placed out of bounds", second(rawarray.PlaceValue(mem, len(mem)-rawarray.ValueSize+8, 1)), rawarray.ErrBounds},
	} {
		assert.ErrorIs(t, c.err, c.want, c.name)
	}
	a, err := rawarray.AttachArray[int32](mem, off)
	require.NoError(t, err, "the undamaged header")
	assert.Equal(t, 10, a.Len())

	// A value's length must be 1.
	_, err = rawarray.PlaceValue(mem, 0, int64(1))
	require.NoError(t, err)
	ne.PutUint64(mem[hLength:], 2)
	_, err = rawarray.AttachValue[int64](mem, 0)
	assert.ErrorIs(t, err, rawarray.ErrCorrupt)
}

// TestAttachKeepsGeometry: a peer that rewrites the header after attach
// cannot change the length this process uses.
func TestAttachKeepsGeometry(t *testing.T) {
	mem := newHeap(rawarray.RawArraySize[int64](4))
	a, err := rawarray.PlaceRawArray[int64](mem, 0, 4)
	require.NoError(t, err)
	ne.PutUint64(mem[hLength:], 1<<40)
	assert.Equal(t, 4, a.Len())
	assert.Len(t, a.Slice(), 4)
	assert.Panics(t, func() { a.At(4) })
	assert.Panics(t, func() { a.Set(-1, 0) })
}

func TestReadOnly(t *testing.T) {
	name := proctest.Name(t)
	seg, err := shm.Create(name, 4096, nil)
	require.NoError(t, err)
	defer seg.Close()
	defer seg.Unlink()
	_, err = rawarray.PlaceRawValue(seg, 0, 1.0)
	require.NoError(t, err)
	ro, err := shm.Open(name, &shm.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	_, err = rawarray.AttachRawValue[float64](ro, 0)
	assert.ErrorIs(t, err, rawarray.ErrReadOnly)
	_, err = rawarray.PlaceRawValue(ro, 64, 1.0)
	assert.ErrorIs(t, err, rawarray.ErrReadOnly)
	info, err := rawarray.Inspect(ro, 0)
	require.NoError(t, err, "Inspect only reads")
	assert.Equal(t, rawarray.Info{Kind: rawarray.KindRawValue, Code: "d", ElemSize: 8, Len: 1,
		DataOffset: 32, Size: rawarray.RawValueSize}, info)
}

func TestSizes(t *testing.T) {
	assert.Equal(t, 64, rawarray.ValueSize)
	assert.Equal(t, 40, rawarray.RawValueSize)
	assert.Equal(t, 56, rawarray.ArraySize[int8](0))
	assert.Equal(t, 64, rawarray.ArraySize[int8](1))
	assert.Equal(t, 64, rawarray.ArraySize[int8](8))
	assert.Equal(t, 72, rawarray.ArraySize[int8](9))
	assert.Equal(t, 56+800, rawarray.ArraySize[float64](100))
	assert.Equal(t, 32+8, rawarray.RawArraySize[int16](3))
	assert.Equal(t, 32+400, rawarray.RawArraySize[float32](100))
	for _, ty := range ctypes.Types() {
		assert.LessOrEqual(t, ty.Size, 8, "every element fits a value's slot")
	}
}
