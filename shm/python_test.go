package shm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
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

// needPython returns the python3 to run, or skips tb saying why there is none.
func needPython(tb testing.TB) string {
	tb.Helper()
	path, err := python3()
	if err != nil {
		tb.Skipf("no usable python3: %v", err)
	}
	return path
}

// pyPrelude is put before every Python snippet. attach opens (or creates)
// a segment the way Python users do, then takes it off the resource
// tracker: Python 3.8-3.12 track segments they merely attach to as well,
// and the tracker unlinks what it tracks when Python exits. The Go test
// owns every segment and unlinks it. pattern is the Go test's pattern.
const pyPrelude = `
import os, sys
from multiprocessing import resource_tracker, shared_memory

def attach(name, create=False, size=0):
    sm = shared_memory.SharedMemory(name=name, create=create, size=size)
    resource_tracker.unregister(sm._name, "shared_memory")
    return sm

def pattern(n, seed):
    return bytes(((i * 7) ^ seed ^ (i >> 8)) & 0xFF for i in range(n))

def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)
`

// runPython runs pyPrelude+script with args in sys.argv[1:] and returns
// its standard output; it fails t if Python fails.
func runPython(t *testing.T, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, needPython(t), append([]string{"-c", pyPrelude + script}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "python failed; stderr:\n%s", stderr.String())
	if stderr.Len() > 0 {
		// The resource tracker warns here about segments it would unlink.
		t.Errorf("python wrote to stderr:\n%s", stderr.String())
	}
	return string(out)
}

func TestPythonCreatesGoOpens(t *testing.T) {
	needPython(t)
	const size = 10000 // not a page multiple: neither side rounds or adds a header
	name := proctest.Name(t)
	t.Cleanup(func() { _ = shm.Unlink(name) }) // whatever happens to Python

	out := runPython(t, `
name, size = sys.argv[1], int(sys.argv[2])
sm = attach(name, create=True, size=size)
sm.buf[:size] = pattern(size, 11)
print(sm.name, sm.size)
sm.close()
`, name, strconv.Itoa(size))
	assert.Equal(t, fmt.Sprintf("%s %d\n", name, size), out)

	st, err := os.Stat(filepath.Join(shm.Dir, name))
	require.NoError(t, err, "Python's segment is not in %s", shm.Dir)
	assert.Equal(t, int64(size), st.Size())

	for _, n := range []string{name, "/" + name} {
		seg, err := shm.Open(n, nil)
		require.NoError(t, err)
		assert.Equal(t, int64(size), seg.Size())
		assert.Equal(t, pattern(size, 11), seg.Bytes())
		require.NoError(t, seg.Close())
	}
	require.NoError(t, shm.Unlink(name))
}

func TestGoCreatesPythonAttaches(t *testing.T) {
	needPython(t)
	const size = 10000
	seg, name := newSegment(t, size, nil)
	off := replyOffset(size)
	copy(seg.Bytes(), pattern(off, 12))

	_, err := os.Stat(filepath.Join(shm.Dir, name))
	require.NoError(t, err)

	out := runPython(t, `
name, size, off = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if not os.path.exists("/dev/shm/" + name):
    fail("/dev/shm/%s does not exist" % name)
sm = attach(name)
if sm.size != size:
    fail("size %d, want %d" % (sm.size, size))
if bytes(sm.buf[:off]) != pattern(off, 12):
    fail("pattern mismatch")
if bytes(sm.buf[off:]) != bytes(size - off):
    fail("reply area is not zero")
reply = b"reply from python %d" % os.getpid()
sm.buf[off:off + len(reply)] = reply
print(os.getpid())
sm.close()
`, name, strconv.Itoa(size), strconv.Itoa(off))

	pid := strings.TrimSpace(out)
	want := "reply from python " + pid
	assert.Equal(t, want, string(seg.Bytes()[off:off+len(want)]))
	// Python left the segment in place: the tracker did not unlink it.
	_, err = os.Stat(filepath.Join(shm.Dir, name))
	assert.NoError(t, err)
}
