package ring

import (
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) {
	proctest.Main(m, roles)
}

// heapMem returns n zeroed bytes of Go heap memory starting on a 64-byte
// boundary, which the race detector tracks.
func heapMem(n int) []byte {
	b := make([]byte, n+Alignment)
	off := ctypes.AlignOffset(b, Alignment)
	return b[off : off+n : off+n]
}

// newSegment creates a named segment of size bytes for the test and
// removes it when the test ends. It returns the name children open.
func newSegment(t testing.TB, size int) (string, []byte) {
	t.Helper()
	name := proctest.Name(t)
	seg, err := shm.Create(name, int64(size), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = seg.Unlink()
		_ = seg.Close()
	})
	return name, seg.Bytes()
}

// childSegments keeps a child's segments reachable: a Segment that the
// garbage collector finds unreachable is unmapped by its cleanup, under
// the feet of a ring still using its bytes.
var childSegments []*shm.Segment

// anonSegment maps an anonymous segment of size bytes in a child.
func anonSegment(size int) []byte {
	seg, err := shm.Anonymous(int64(size))
	if err != nil {
		proctest.Fail("anonymous segment: %v", err)
	}
	childSegments = append(childSegments, seg)
	return seg.Bytes()
}

// openSegment maps a segment in a child; it stays mapped until exit.
func openSegment(name string) []byte {
	seg, err := shm.Open(name, nil)
	if err != nil {
		proctest.Fail("open %s: %v", name, err)
	}
	childSegments = append(childSegments, seg)
	return seg.Bytes()
}
