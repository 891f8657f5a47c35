package rawarray_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/rawarray"
)

// sentinels are the errors Attach may return for hostile memory.
var sentinels = []error{rawarray.ErrBadMagic, rawarray.ErrVersion, rawarray.ErrKind, rawarray.ErrType,
	rawarray.ErrBounds, rawarray.ErrMisaligned, rawarray.ErrCorrupt}

func checkSentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: error %v matches no sentinel", what, err)
}

// fuzzSeeds are memories holding valid objects, for the fuzzer to damage.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(size int, place func(m heap) error) {
		m := newHeap(size)
		if err := place(m); err != nil {
			panic(err)
		}
		seeds = append(seeds, append([]byte(nil), m...))
	}
	add(rawarray.ValueSize, func(m heap) error { _, err := rawarray.PlaceValue(m, 0, int64(-5)); return err })
	add(rawarray.RawValueSize+8, func(m heap) error { _, err := rawarray.PlaceRawValue(m, 8, true); return err })
	add(rawarray.ArraySize[int16](5), func(m heap) error { _, err := rawarray.PlaceArray[int16](m, 0, 5); return err })
	add(rawarray.RawArraySize[float64](3)+64, func(m heap) error { _, err := rawarray.PlaceRawArray[float64](m, 64, 3); return err })
	add(rawarray.RawArraySize[uint8](0), func(m heap) error { _, err := rawarray.PlaceRawArray[uint8](m, 0, 0); return err })
	return seeds
}

// FuzzAttach attaches every kind, with element types of every size, to
// arbitrary bytes at an arbitrary offset, as a hostile process could lay
// them out. Attach must return a sentinel error or an object whose every
// element is inside the memory; nothing may panic or read out of bounds.
// Heap-backed, so -race and checkptr watch the accesses.
func FuzzAttach(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, 0)
		f.Add(s, 8)
		f.Add(s, 64)
	}
	f.Add([]byte{}, -8)
	f.Fuzz(func(t *testing.T, data []byte, off int) {
		mem := newHeap(len(data))
		copy(mem, data)
		info, err := rawarray.Inspect(mem, off)
		if err != nil {
			checkSentinel(t, "Inspect", err)
		} else if info.Size > len(mem)-off || info.DataOffset+info.Len*info.ElemSize > info.Size {
			t.Fatalf("Inspect accepted %+v at %d in %d bytes", info, off, len(mem))
		}
		fuzzKinds[int8](t, mem, off, 1)
		fuzzKinds[uint16](t, mem, off, 0xBEEF)
		fuzzKinds[float32](t, mem, off, 1.5)
		fuzzKinds[int64](t, mem, off, -1)
		fuzzKinds[bool](t, mem, off, true)
		if lim := min(max(off, 0), len(mem)); !bytes.Equal(mem[:lim], data[:lim]) {
			t.Fatal("bytes before the offset changed")
		}
	})
}

// fuzzKinds attaches each kind of object of T at off and, when that
// succeeds, uses all of it.
func fuzzKinds[T ctypes.Scalar](t *testing.T, mem heap, off int, x T) {
	if v, err := rawarray.AttachValue[T](mem, off); err != nil {
		checkSentinel(t, "AttachValue", err)
	} else {
		v.Store(v.Load())
		v.Store(x)
		// Garbage in the lock word can make it look held by a live
		// process: try, never wait.
		if v.Mutex().TryLock() {
			v.Unlock()
		}
		requireNoError(t, v.Close())
	}
	if v, err := rawarray.AttachRawValue[T](mem, off); err != nil {
		checkSentinel(t, "AttachRawValue", err)
	} else {
		v.Store(v.Load())
		requireNoError(t, v.Close())
	}
	if a, err := rawarray.AttachArray[T](mem, off); err != nil {
		checkSentinel(t, "AttachArray", err)
	} else {
		checkLen(t, a.Len(), len(a.Slice()), off, len(mem))
		for i := range a.Len() {
			a.Set(i, a.At(i))
		}
		if a.Mutex().TryLock() {
			clear(a.Slice())
			a.Unlock()
		}
		requireNoError(t, a.Close())
	}
	if a, err := rawarray.AttachRawArray[T](mem, off); err != nil {
		checkSentinel(t, "AttachRawArray", err)
	} else {
		checkLen(t, a.Len(), len(a.Slice()), off, len(mem))
		for i := range a.Len() {
			a.Set(i, a.At(i))
		}
		s := a.Slice()
		for i := range s {
			s[i] = x
		}
		requireNoError(t, a.Close())
	}
}

func checkLen(t *testing.T, n, sliceLen, off, memLen int) {
	t.Helper()
	if n != sliceLen || n < 0 || n > memLen-off {
		t.Fatalf("length %d, slice %d, at %d in %d bytes", n, sliceLen, off, memLen)
	}
}

func requireNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzRef decodes arbitrary bytes as a binary and as a JSON reference. A
// decoded reference re-encodes to the same bytes; anything else is ErrRef
// (or a JSON syntax error), never a panic.
func FuzzRef(f *testing.F) {
	for _, r := range []rawarray.Ref{
		{Kind: rawarray.KindArray, Code: "d", ElemSize: 8, Len: 100, Offset: 4096, Name: "seg", Fd: -1},
		{Kind: rawarray.KindValue, Code: "q", ElemSize: 8, Len: 1, Fd: 3},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		j, _ := json.Marshal(r)
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r rawarray.Ref
		if err := r.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, rawarray.ErrRef) {
				t.Fatalf("UnmarshalBinary: %v is not ErrRef", err)
			}
		} else {
			b, err := r.MarshalBinary()
			if err != nil {
				t.Fatalf("re-encode %+v: %v", r, err)
			}
			if !bytes.Equal(b, data) {
				t.Fatalf("re-encoded %x, decoded from %x", b, data)
			}
		}
		var j rawarray.Ref
		if json.Unmarshal(data, &j) == nil {
			_ = j.String()
			_, _ = j.MarshalBinary()
		}
	})
}
