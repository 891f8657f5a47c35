package rawarray_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"testing"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestRefEncodings(t *testing.T) {
	for _, ref := range []rawarray.Ref{
		{Kind: rawarray.KindArray, Code: "d", ElemSize: 8, Len: 100, Offset: 4096, Name: "seg", Fd: -1},
		{Kind: rawarray.KindRawValue, Code: "?", ElemSize: 1, Len: 1, Offset: 0, Fd: 3},
		{Kind: rawarray.KindValue, Len: 1, Fd: 0},
	} {
		j, err := json.Marshal(ref)
		require.NoError(t, err)
		var back rawarray.Ref
		require.NoError(t, json.Unmarshal(j, &back))
		assert.Equal(t, ref, back, "JSON %s", j)

		bin, err := ref.MarshalBinary()
		require.NoError(t, err)
		back = rawarray.Ref{}
		require.NoError(t, back.UnmarshalBinary(bin))
		assert.Equal(t, ref, back, "binary %x", bin)
		for n := range bin {
			assert.ErrorIs(t, back.UnmarshalBinary(bin[:n]), rawarray.ErrRef, "truncated to %d", n)
		}
		assert.Equal(t, ref, back, "a failed decode leaves the Ref alone")
	}
	j, err := json.Marshal(rawarray.Ref{Kind: rawarray.KindArray, Code: "i", ElemSize: 4, Len: 2, Offset: 64, Name: "x", Fd: -1})
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"Array","code":"i","elemSize":4,"len":2,"offset":64,"name":"x","fd":-1}`, string(j))
	assert.Equal(t, `Array<i>[2] at 64 in segment "x"`, rawarray.Ref{Kind: rawarray.KindArray, Code: "i", Len: 2, Offset: 64, Name: "x"}.String())
	assert.Equal(t, `Value<q> at 0 in descriptor 3`, rawarray.Ref{Kind: rawarray.KindValue, Code: "q", Len: 1, Fd: 3}.String())

	var r rawarray.Ref
	assert.ErrorIs(t, json.Unmarshal([]byte(`{"kind":"Dict"}`), &r), rawarray.ErrRef)
	for _, bad := range []rawarray.Ref{
		{Kind: 0},
		{Kind: rawarray.KindValue, Code: "qq"},
		{Kind: rawarray.KindValue, Fd: 1 << 40},
		{Kind: rawarray.KindValue, ElemSize: 1 << 20},
	} {
		_, err := bad.MarshalBinary()
		assert.ErrorIs(t, err, rawarray.ErrRef, "%+v", bad)
	}
	bin, err := rawarray.Ref{Kind: rawarray.KindValue, Code: "i"}.MarshalBinary()
	require.NoError(t, err)
	for i, mutate := range []func(b []byte){
		func(b []byte) { b[0] = 2 },   // format version
		func(b []byte) { b[1] = 7 },   // kind
		func(b []byte) { b[2] = 'z' }, // code
		func(b []byte) { b[3] = 1 },   // name length
		func(b []byte) { b[23] = 0x80 },
	} {
		b := append([]byte(nil), bin...)
		mutate(b)
		assert.ErrorIs(t, r.UnmarshalBinary(b), rawarray.ErrRef, "mutation %d", i)
	}
}

func TestRefErrors(t *testing.T) {
	v, err := rawarray.PlaceValue(newHeap(64), 0, 1)
	require.NoError(t, err)
	_, err = v.Ref()
	assert.ErrorIs(t, err, rawarray.ErrNoRef)
	_, err = v.File()
	assert.ErrorIs(t, err, rawarray.ErrNoRef)

	name := proctest.Name(t)
	a, err := rawarray.NewArrayOptions[int64](10, &rawarray.Options{Name: name, Code: "q"})
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()
	ref, err := a.Ref()
	require.NoError(t, err)
	assert.Equal(t, rawarray.Ref{Kind: rawarray.KindArray, Code: "q", ElemSize: 8, Len: 10, Name: name, Fd: -1, Seg: ref.Seg}, ref)
	assert.Equal(t, name, ref.Seg.Name)

	b, err := rawarray.OpenArray[int64](ref)
	require.NoError(t, err)
	b.Set(3, 33)
	assert.Equal(t, int64(33), a.At(3))
	require.NoError(t, b.Close())

	fds := len(proctest.ShmFds())
	for _, c := range []struct {
		name   string
		mutate func(r *rawarray.Ref)
		open   func(r rawarray.Ref) error
		want   error
	}{
		{"kind", func(r *rawarray.Ref) { r.Kind = rawarray.KindRawArray }, openArray[int64], rawarray.ErrKind},
		{"type", func(r *rawarray.Ref) {}, openArray[float64], rawarray.ErrType},
		{"code", func(r *rawarray.Ref) { r.Code = "d" }, openArray[int64], rawarray.ErrType},
		{"code alias", func(r *rawarray.Ref) { r.Code = "l" }, openArray[int64], rawarray.ErrRef},
		{"length", func(r *rawarray.Ref) { r.Len = 11 }, openArray[int64], rawarray.ErrRef},
		{"element size", func(r *rawarray.Ref) { r.ElemSize = 4 }, openArray[int64], rawarray.ErrRef},
		{"offset", func(r *rawarray.Ref) { r.Offset = 64 }, openArray[int64], rawarray.ErrBadMagic},
		{"negative offset", func(r *rawarray.Ref) { r.Offset = -8 }, openArray[int64], rawarray.ErrBounds},
		{"no such name", func(r *rawarray.Ref) { r.Name, r.Seg = r.Name+"-gone", shm.Ref{} }, openArray[int64], fs.ErrNotExist},
		{"bad name", func(r *rawarray.Ref) { r.Name, r.Seg = "a/b", shm.Ref{} }, openArray[int64], shm.ErrInvalidName},
		{"no name, no fd", func(r *rawarray.Ref) { r.Name, r.Seg = "", shm.Ref{} }, openArray[int64], rawarray.ErrRef},
		{"segment reference of a closed segment", func(r *rawarray.Ref) { r.Name, r.Seg.ID, r.Seg.Name = "", 1<<40, "" }, openArray[int64], shm.ErrNoRef},
		{"closed fd", func(r *rawarray.Ref) { r.Name, r.Fd = "", 1000 }, openArray[int64], unix.EBADF},
		{"fd of a non-segment", func(r *rawarray.Ref) { r.Name, r.Fd = "", int(os.Stdout.Fd()) }, openArray[int64], nil},
	} {
		r := ref
		c.mutate(&r)
		err := c.open(r)
		if c.want == nil {
			assert.Error(t, err, c.name)
			continue
		}
		assert.ErrorIs(t, err, c.want, c.name)
	}
	assert.Len(t, proctest.ShmFds(), fds, "failed opens leave no descriptors")
}

func openArray[T int64 | float64](r rawarray.Ref) error {
	a, err := rawarray.OpenArray[T](r)
	if err == nil {
		_ = a.Close()
	}
	return err
}

// TestOpenFromFd opens every kind from one duplicate descriptor of an
// anonymous segment, within this process; the descriptor stays the
// caller's.
func TestOpenFromFd(t *testing.T) {
	seg, err := shm.Anonymous(4096)
	require.NoError(t, err)
	defer seg.Close()
	v, err := rawarray.PlaceValue(seg, 0, int32(1))
	require.NoError(t, err)
	rv, err := rawarray.PlaceRawValue(seg, 64, int32(2))
	require.NoError(t, err)
	a, err := rawarray.PlaceArray[int32](seg, 128, 3)
	require.NoError(t, err)
	ra, err := rawarray.PlaceRawArray[int32](seg, 256, 4)
	require.NoError(t, err)
	f, err := seg.Dup()
	require.NoError(t, err)
	defer f.Close()
	fd := int(f.Fd())
	withFd := func(obj interface{ Ref() (rawarray.Ref, error) }) rawarray.Ref {
		r, err := obj.Ref()
		require.NoError(t, err)
		require.Equal(t, -1, r.Fd)
		r.Fd = fd
		return r
	}
	v2, err := rawarray.OpenValue[int32](withFd(v))
	require.NoError(t, err)
	rv2, err := rawarray.OpenRawValue[int32](withFd(rv))
	require.NoError(t, err)
	a2, err := rawarray.OpenArray[int32](withFd(a))
	require.NoError(t, err)
	ra2, err := rawarray.OpenRawArray[int32](withFd(ra))
	require.NoError(t, err)
	assert.Equal(t, int32(1), v2.Load())
	assert.Equal(t, int32(2), rv2.Load())
	assert.Equal(t, 3, a2.Len())
	assert.Equal(t, 4, ra2.Len())
	ra2.Set(3, 9)
	assert.Equal(t, int32(9), ra.At(3))
	_, err = rawarray.OpenRawValue[int32](withFd(v))
	assert.ErrorIs(t, err, rawarray.ErrKind)
	for _, c := range []interface{ Close() error }{v2, rv2, a2, ra2, v, rv, a, ra} {
		require.NoError(t, c.Close())
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	assert.NoError(t, err, "the descriptor stays open")
}
