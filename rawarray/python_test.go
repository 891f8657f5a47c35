package rawarray_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// python3 finds a Python with multiprocessing.shared_memory (3.8+), once.
var python3 = sync.OnceValues(func() (string, error) {
	path, err := exec.LookPath("python3")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, "-c", "import multiprocessing.shared_memory").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s cannot import multiprocessing.shared_memory (needs Python 3.8+): %v: %s", path, err, out)
	}
	return path, nil
})

// pyPrelude reads and writes the published layout (doc.go) with nothing
// but struct and memoryview. attach takes the segment off the resource
// tracker, which would otherwise unlink it when Python exits (3.8-3.12
// track segments they merely attach to); the Go test owns the segment.
const pyPrelude = `
import json, struct, sys
from multiprocessing import resource_tracker, shared_memory

HDR = struct.Struct("=IHBcHBBIQQ")
MAGIC, VERSION = 0x41524853, 1
KINDS = {1: "Value", 2: "RawValue", 3: "Array", 4: "RawArray"}
views = []

def attach(name, create=False, size=0):
    sm = shared_memory.SharedMemory(name=name, create=create, size=size)
    resource_tracker.unregister(sm._name, "shared_memory")
    return sm

def header(buf, off):
    magic, ver, kind, code, size, lock, flags, data, n, res = HDR.unpack_from(buf, off)
    if magic != MAGIC or ver != VERSION or flags or res:
        sys.exit("bad header at %d: %r" % (off, HDR.unpack_from(buf, off)))
    if data != (56 if lock else 32) or struct.calcsize(code.decode()) != size:
        sys.exit("inconsistent header at %d" % off)
    return KINDS[kind], code.decode(), size, data, n

def elems(buf, off):
    kind, code, size, data, n = header(buf, off)
    v = buf[off + data : off + data + n * size].cast(code)
    views.append(v)
    return v

def place(buf, off, kind, code, n):
    lock = 1 if kind in (1, 3) else 0
    data = 56 if lock else 32
    size = struct.calcsize(code)  # native size, as memoryview.cast uses
    buf[off : off + data + n * size] = bytes(data + n * size)
    HDR.pack_into(buf, off, MAGIC, VERSION, kind, code.encode(), size, lock, 0, data, n, 0)
    return elems(buf, off)

def done(sm):
    for v in views:
        v.release()
    sm.close()
`

func runPython(t *testing.T, script string, args ...string) string {
	t.Helper()
	py, err := python3()
	if err != nil {
		t.Skipf("no usable python3: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-c", pyPrelude + script}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "python failed; stderr:\n%s", stderr.String())
	assert.Empty(t, stderr.String(), "python wrote to stderr")
	return string(out)
}

// TestPythonReadsAndWrites: objects of every kind placed by Go in a named
// segment are found by Python at their offsets through the header, read
// with memoryview.cast(code), and written back; Go sees Python's writes.
func TestPythonReadsAndWrites(t *testing.T) {
	if _, err := python3(); err != nil {
		t.Skipf("no usable python3: %v", err)
	}
	name := proctest.Name(t)
	seg, err := shm.Create(name, 4096, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	defer func() { require.NoError(t, seg.Unlink()) }()

	offV, offRV, offA := 0, rawarray.ValueSize, rawarray.ValueSize+rawarray.RawValueSize
	offRA := offA + rawarray.ArraySize[int64](5)
	offRB := offRA + rawarray.RawArraySize[uint16](4)
	v, err := rawarray.PlaceValue(seg, offV, int32(7))
	require.NoError(t, err)
	rv, err := rawarray.PlaceRawValue(seg, offRV, 2.5)
	require.NoError(t, err)
	a, err := rawarray.NewArrayOptions[int64](5, &rawarray.Options{Code: "l", In: seg, Offset: offA})
	require.NoError(t, err)
	ra, err := rawarray.PlaceRawArray[uint16](seg, offRA, 4)
	require.NoError(t, err)
	rb, err := rawarray.PlaceRawArray[bool](seg, offRB, 3)
	require.NoError(t, err)
	for i := range 5 {
		a.Set(i, int64(i*i)-3)
	}
	for i := range 4 {
		ra.Set(i, uint16(60000+i))
	}
	rb.Set(1, true)

	out := runPython(t, `
sm = attach(sys.argv[1])
seen = {}
for off in map(int, sys.argv[2:]):
    kind, code, size, data, n = header(sm.buf, off)
    e = elems(sm.buf, off)
    seen[off] = [kind, code, e.tolist()]
    for i in range(n):
        if code == "?":
            e[i] = not e[i]
        elif code == "H":
            e[i] = e[i] + 1
        else:
            e[i] = -e[i]
print(json.dumps(seen, sort_keys=True))
done(sm)
`, name, strconv.Itoa(offV), strconv.Itoa(offRV), strconv.Itoa(offA), strconv.Itoa(offRA), strconv.Itoa(offRB))

	var seen map[int][]any
	require.NoError(t, json.Unmarshal([]byte(out), &seen), "python printed %q", out)
	assert.Equal(t, []any{"Value", "i", []any{7.0}}, seen[offV])
	assert.Equal(t, []any{"RawValue", "d", []any{2.5}}, seen[offRV])
	assert.Equal(t, []any{"Array", "l", []any{-3.0, -2.0, 1.0, 6.0, 13.0}}, seen[offA])
	assert.Equal(t, []any{"RawArray", "H", []any{60000.0, 60001.0, 60002.0, 60003.0}}, seen[offRA])
	assert.Equal(t, []any{"RawArray", "?", []any{false, true, false}}, seen[offRB])

	assert.Equal(t, int32(-7), v.Load())
	assert.Equal(t, -2.5, rv.Load())
	for i := range 5 {
		assert.Equal(t, 3-int64(i*i), a.At(i))
	}
	assert.Equal(t, []uint16{60001, 60002, 60003, 60004}, ra.Slice())
	assert.Equal(t, []bool{true, false, true}, rb.Slice())
}

// TestPythonPlacesGoAttaches: Python lays out objects from the published
// format alone, in a segment it creates; Go attaches them, checks their
// contents, and takes the synchronized Array's (zero, so unlocked) lock.
func TestPythonPlacesGoAttaches(t *testing.T) {
	if _, err := python3(); err != nil {
		t.Skipf("no usable python3: %v", err)
	}
	name := proctest.Name(t)
	t.Cleanup(func() { _ = shm.Unlink(name) }) // whatever happens to Python
	runPython(t, `
sm = attach(sys.argv[1], create=True, size=4096)
h = place(sm.buf, 0, 4, "h", 6)      # RawArray of short, 48 bytes
for i in range(6):
    h[i] = i - 3
q = place(sm.buf, 48, 2, "Q", 1)     # RawValue of unsigned long long, 40 bytes
q[0] = 2**64 - 1
d = place(sm.buf, 88, 3, "d", 2)     # Array of double, 72 bytes
d[0], d[1] = 0.25, -1e300
done(sm)
`, name)

	seg, err := shm.Open(name, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	h, err := rawarray.AttachRawArray[int16](seg, 0)
	require.NoError(t, err)
	assert.Equal(t, []int16{-3, -2, -1, 0, 1, 2}, h.Slice())
	q, err := rawarray.AttachRawValue[uint64](seg, 48)
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<64-1), q.Load())
	d, err := rawarray.AttachArray[float64](seg, 88)
	require.NoError(t, err)
	d.Lock()
	assert.Equal(t, []float64{0.25, -1e300}, d.Slice())
	d.Slice()[0] *= 2
	d.Unlock()
	assert.Equal(t, 0.5, d.At(0))
	info, err := rawarray.Inspect(seg, 88)
	require.NoError(t, err)
	assert.Equal(t, rawarray.Info{Kind: rawarray.KindArray, Code: "d", ElemSize: 8, Len: 2, DataOffset: 56, Size: 72}, info)
	_, err = rawarray.AttachRawValue[int64](seg, 48)
	assert.ErrorIs(t, err, rawarray.ErrType, "Python said Q")
}
