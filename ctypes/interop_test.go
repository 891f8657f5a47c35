package ctypes_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

// reading is a C-layout record both languages use: Python describes it with
// the struct format "@iqd8s?", Go with this type; ParseFormat and
// CheckLayout prove they agree before any byte is exchanged.
type reading struct {
	Sensor int32
	Stamp  int64
	Value  float64
	Label  [8]byte
	OK     bool
}

const readingFormat = "@iqd8s?"

// TestPythonStructInterop: Python creates a segment and packs a record with
// struct; Go reads it through ctypes.View, writes its own record, and
// Python unpacks that. Skipped without python3.
func TestPythonStructInterop(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the Python interop test needs it")
	}
	layout, err := ctypes.ParseFormat(readingFormat)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctypes.CheckLayout[reading](layout); err != nil {
		t.Fatalf("Go type and Python format disagree: %v", err)
	}
	name := fmt.Sprintf("shmkit-ctypes-interop-%d", os.Getpid())
	defer shm.Unlink(name)
	script := fmt.Sprintf(`
import struct, sys
from multiprocessing import shared_memory, resource_tracker
fmt = %q
if sys.argv[1] == "write":
    sm = shared_memory.SharedMemory(name=%q, create=True, size=4096)
    struct.pack_into(fmt, sm.buf, 0, 7, 1234567890123, 2.5, b"python", True)
else:
    sm = shared_memory.SharedMemory(name=%q)
    s, st, v, label, ok = struct.unpack_from(fmt, sm.buf, 64)
    print(s, st, v, label.rstrip(b"\0").decode(), ok)
resource_tracker.unregister(sm._name, "shared_memory")
sm.close()
`, readingFormat, name, name)
	if out, err := exec.Command(py, "-c", script, "write").CombinedOutput(); err != nil {
		t.Fatalf("python write: %v: %s", err, out)
	}
	seg, err := shm.Open(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	r, err := ctypes.View[reading](seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Sensor != 7 || r.Stamp != 1234567890123 || r.Value != 2.5 || string(r.Label[:6]) != "python" || !r.OK {
		t.Fatalf("Go read %+v", *r)
	}
	w, err := ctypes.View[reading](seg.Bytes()[64:])
	if err != nil {
		t.Fatal(err)
	}
	*w = reading{Sensor: -3, Stamp: math.MaxInt64, Value: -0.125, OK: false}
	copy(w.Label[:], "gopher")
	out, err := exec.Command(py, "-c", script, "read").CombinedOutput()
	if err != nil {
		t.Fatalf("python read: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "-3 9223372036854775807 -0.125 gopher False" {
		t.Fatalf("Python read %q", got)
	}
}
