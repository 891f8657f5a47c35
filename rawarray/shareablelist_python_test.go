package rawarray_test

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pySLPrelude is added to pyPrelude for the ShareableList tests. open_sl
// takes the segment off the resource tracker, which would otherwise
// unlink it when Python exits (3.8-3.12 track segments they merely
// attach to); the Go test owns the segment. typed turns an item into
// [type, text] so that Go compares every type and value exactly.
const pySLPrelude = `
from multiprocessing.shared_memory import ShareableList

def open_sl(name, items=None):
    sl = ShareableList(items, name=name)
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    return sl

def typed(v):
    if isinstance(v, bytes):
        return ["bytes", v.hex()]
    if isinstance(v, float):
        return ["float", repr(v)]
    return [type(v).__name__, "" if v is None else str(v)]
`

// typedItem is what pySLPrelude's typed says of a Go item.
func typedItem(t *testing.T, v any) [2]string {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return [2]string{"NoneType", ""}
	case int64:
		return [2]string{"int", strconv.FormatInt(x, 10)}
	case float64:
		return [2]string{"float", pyFloatRepr(t, x)}
	case bool:
		if x {
			return [2]string{"bool", "True"}
		}
		return [2]string{"bool", "False"}
	case string:
		return [2]string{"str", x}
	case []byte:
		return [2]string{"bytes", hex.EncodeToString(x)}
	}
	t.Fatalf("no Python type for %T", v)
	return [2]string{}
}

// pyFloatRepr is Python's repr of the few floats these tests use.
func pyFloatRepr(t *testing.T, x float64) string {
	t.Helper()
	switch x {
	case 2.5:
		return "2.5"
	case 0.5:
		return "0.5"
	case 3.25:
		return "3.25"
	case 1e300:
		return "1e+300"
	}
	t.Fatalf("no Python repr for %v here", x)
	return ""
}

func typedItems(t *testing.T, items []any) [][2]string {
	t.Helper()
	out := make([][2]string, len(items))
	for i, v := range items {
		out[i] = typedItem(t, v)
	}
	return out
}

// pyListResult is what the scripts print.
type pyListResult struct {
	Items  [][2]string `json:"items"`
	Format string      `json:"format"`
	Size   int         `json:"size"`
	Image  string      `json:"image"`
	Errors []string    `json:"errors"`
}

func runPythonList(t *testing.T, script string, args ...string) pyListResult {
	t.Helper()
	out := runPython(t, pySLPrelude+script, args...)
	var r pyListResult
	require.NoError(t, json.Unmarshal([]byte(out), &r), "python printed %q", out)
	return r
}

// TestShareableListFromPython: Python makes a ShareableList; Go opens it,
// reads every item, rewrites them with other types, is refused a value
// too large for its slot; Python reads Go's writes back.
func TestShareableListFromPython(t *testing.T) {
	if _, err := python3(); err != nil {
		t.Skipf("no usable python3: %v", err)
	}
	name := proctest.Name(t)
	t.Cleanup(func() { _ = shm.Unlink(name) }) // whatever happens to Python
	made := runPythonList(t, `
sl = open_sl(sys.argv[1], ["a", 1, 2.5, True, None, b"xy", "h\u00e9llo w\u00f6rld", -7, b"\x00\x01", 1e300])
print(json.dumps({"items": [typed(v) for v in sl], "format": sl.format, "size": sl.shm.size}))
sl.shm.close()
`, name)
	assert.Equal(t, "8sqdxxxxxxx?xxxxxx?x8s16sq8sd", made.Format)

	l, err := rawarray.OpenShareableList(name)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	want := []any{"a", int64(1), 2.5, true, nil, []byte("xy"), "héllo wörld", int64(-7), []byte{0, 1}, 1e300}
	require.Equal(t, len(want), l.Len())
	assert.Equal(t, want, listItems(t, l))
	assert.Equal(t, typedItems(t, want), made.Items, "Python and Go read the same items")
	assert.Equal(t, made.Format, l.Format())
	size, err := rawarray.ShareableListSize(want)
	require.NoError(t, err)
	assert.Equal(t, made.Size, size)

	written := []any{"bcdefghi", "€", int64(math.MinInt64), nil, true, []byte("12345678"), 3.25, false, []byte{}, "0.5"}
	for i, v := range written {
		require.NoError(t, l.Set(i, v), "item %d", i)
	}
	assert.ErrorIs(t, l.Set(0, "123456789"), rawarray.ErrTooLarge)
	assert.ErrorIs(t, l.Set(6, "0123456789abcdefg"), rawarray.ErrTooLarge)

	back := runPythonList(t, `
sl = open_sl(sys.argv[1])
errors = []
for i, v in ((0, "123456789"), (6, "0123456789abcdefg")):
    try:
        sl[i] = v
    except ValueError as e:
        errors.append(str(e))
print(json.dumps({"items": [typed(v) for v in sl], "format": sl.format, "errors": errors}))
sl.shm.close()
`, name)
	assert.Equal(t, typedItems(t, written), back.Items, "Python reads Go's writes")
	assert.Equal(t, l.Format(), back.Format)
	assert.Equal(t, "8s8sqxxxxxx?xxxxxxxx?8sdxxxxxxx?8s8s", back.Format)
	assert.Equal(t, []string{"bytes/str item exceeds available storage", "bytes/str item exceeds available storage"}, back.Errors,
		"Python refuses what Go refuses")
}

// TestShareableListToPython: Go makes a ShareableList; Python opens it,
// reads every item, and writes some; Go reads Python's writes. The bytes
// are those Python lays out for the same items.
func TestShareableListToPython(t *testing.T) {
	if _, err := python3(); err != nil {
		t.Skipf("no usable python3: %v", err)
	}
	items := []any{"a", int64(1), 2.5, true, nil, []byte("xy"), "abcdefgh", "", int64(-3), []byte{},
		false, 1e300, int64(math.MinInt64), "€uro ünïcode €€€€"}
	l := newList(t, items)
	seg, err := shm.Open(l.Name(), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, seg.Close()) }()
	goImage := hex.EncodeToString(seg.Bytes())

	// Python reads the list, lays out a list of the same ASCII items (all
	// but the last: Python 3.11 sizes str slots in characters, gh-88336,
	// and would give its 29 bytes 24) in a segment of its own, and writes.
	r := runPythonList(t, `
sl = open_sl(sys.argv[1])
items = [typed(v) for v in sl]
fmt, size = sl.format, sl.shm.size
ascii = ShareableList(list(sl)[:-1])
image = bytes(ascii.shm.buf).hex()
ascii.shm.close()
ascii.shm.unlink()
errors = []
try:
    sl[13] = "x" * 33
except ValueError as e:
    errors.append(str(e))
sl[0] = "zz"
sl[1] = 2**62
sl[2] = None
sl[3] = b"\x00\xff"
sl[4] = 1.5
sl[6] = 8
sl[13] = "\u20ac" * 8
print(json.dumps({"items": items, "format": fmt, "size": size, "image": image, "errors": errors}))
sl.shm.close()
`, l.Name())
	assert.Equal(t, typedItems(t, items), r.Items, "Python reads Go's items")
	assert.Equal(t, "8sqdxxxxxxx?xxxxxx?x8s16s8sq8sxxxxxxx?dq32s", r.Format)
	assert.Equal(t, len(seg.Bytes()), r.Size)
	assert.Equal(t, []string{"bytes/str item exceeds available storage"}, r.Errors)

	// Python's layout of the ASCII items is Go's, byte for byte.
	ascii := items[:len(items)-1]
	m := newHeap(4096)
	p, err := rawarray.PlaceShareableList(m, 0, ascii)
	require.NoError(t, err)
	size, err := rawarray.ShareableListSize(ascii)
	require.NoError(t, err)
	assert.Equal(t, r.Image, hex.EncodeToString(m[:size]))
	assert.Equal(t, p.Format(), r.Format[:len(r.Format)-3])
	assert.NotEqual(t, goImage, hex.EncodeToString(seg.Bytes()), "Python wrote")

	want := append([]any(nil), items...)
	want[0], want[1], want[2], want[3], want[4], want[6], want[13] = "zz", int64(1<<62), nil, []byte{0, 0xff}, 1.5, int64(8), "€€€€€€€€"
	assert.Equal(t, want, listItems(t, l), "Go reads Python's writes")
	assert.Equal(t, "8sqxxxxxx?x8sd8sq8sq8sxxxxxxx?dq32s", l.Format())
}
