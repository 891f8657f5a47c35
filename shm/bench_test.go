package shm_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edsrzf/mmap-go"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

// pyCreateAttachScript times Python's SharedMemory life cycle for a 4 KiB
// segment — create, attach by name, close both, unlink — for about a second
// after a warm-up, and prints ns per cycle. It is the same cycle as
// BenchmarkCreateAttachUnlink/4KiB.
const pyCreateAttachScript = `
import time
from multiprocessing import shared_memory

def cycle():
    s = shared_memory.SharedMemory(create=True, size=4096)
    a = shared_memory.SharedMemory(name=s.name)
    a.close()
    s.close()
    s.unlink()

for _ in range(50):
    cycle()
n, t0 = 0, time.perf_counter_ns()
while True:
    cycle()
    n += 1
    elapsed = time.perf_counter_ns() - t0
    if elapsed >= 1_000_000_000:
        break
print(elapsed / n)
`

// pyCreateAttach runs pyCreateAttachScript once per test binary.
var pyCreateAttach = sync.OnceValues(func() (float64, error) {
	py, err := python3()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", pyCreateAttachScript).Output()
	if err != nil {
		return 0, fmt.Errorf("python baseline: %w", err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
})

// BenchmarkCreateAttachUnlink is a segment's whole life: Create (reserving
// its memory), Open by name (a second mapping, as another process would
// attach), Close both, Unlink. The 4KiB case reports Python's
// multiprocessing.shared_memory doing the same, measured in the same run
// (py-ns/op), and how many times faster shm is (x-faster-than-py).
func BenchmarkCreateAttachUnlink(b *testing.B) {
	for _, size := range []int64{4 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			name := proctest.Name(b)
			b.ReportAllocs()
			for b.Loop() {
				seg, err := shm.Create(name, size, nil)
				if err != nil {
					b.Fatal(err)
				}
				peer, err := shm.Open(name, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := peer.Close(); err != nil {
					b.Fatal(err)
				}
				if err := seg.Close(); err != nil {
					b.Fatal(err)
				}
				if err := shm.Unlink(name); err != nil {
					b.Fatal(err)
				}
			}
			if size != 4<<10 {
				return
			}
			goNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			pyNs, err := pyCreateAttach()
			if err != nil {
				b.Logf("no Python baseline: %v", err)
				return
			}
			b.ReportMetric(pyNs, "py-ns/op")
			b.ReportMetric(pyNs/goNs, "x-faster-than-py")
		})
	}
}

const copySize = 256 << 20

// copySource is a touched, non-zero 256 MiB source, made once.
var copySource = sync.OnceValue(func() []byte {
	src := make([]byte, copySize)
	for i := range src {
		src[i] = 0x5a
	}
	return src
})

// BenchmarkCopy256MiB copies 256 MiB into a segment next to the same copy
// into private memory (an anonymous private mapping), in two states:
// first-touch, where each copy goes to freshly created memory and pays its
// page faults (creation is not timed), and warm, where the pages are
// already there. Both report GB/s.
func BenchmarkCopy256MiB(b *testing.B) {
	if testing.Short() {
		b.Skip("copies 256 MiB per iteration; skipped under -short")
	}
	src := copySource()

	b.Run("first-touch", func(b *testing.B) {
		b.Run("shm", func(b *testing.B) {
			name := proctest.Name(b)
			benchCopy(b, src, func() ([]byte, func()) {
				seg, err := shm.Create(name, copySize, &shm.Options{NoReserve: true})
				if err != nil {
					b.Fatal(err)
				}
				// The mapping outlives the name; nothing lingers in /dev/shm
				// if the benchmark dies.
				if err := seg.Unlink(); err != nil {
					b.Fatal(err)
				}
				return seg.Bytes(), func() { closeOrFatal(b, seg) }
			})
		})
		b.Run("private", func(b *testing.B) {
			benchCopy(b, src, func() ([]byte, func()) {
				m := mapPrivate(b)
				return m, func() { unmapOrFatal(b, m) }
			})
		})
	})

	b.Run("warm", func(b *testing.B) {
		b.Run("shm", func(b *testing.B) {
			seg, err := shm.Anonymous(copySize)
			if err != nil {
				b.Fatal(err)
			}
			defer closeOrFatal(b, seg)
			dst := seg.Bytes()
			copy(dst, src)
			benchCopy(b, src, func() ([]byte, func()) { return dst, func() {} })
		})
		b.Run("private", func(b *testing.B) {
			m := mapPrivate(b)
			defer unmapOrFatal(b, m)
			copy(m, src)
			benchCopy(b, src, func() ([]byte, func()) { return m, func() {} })
		})
	})
}

// benchCopy times copy(dst, src) per iteration, where dst comes from fresh
// and is released by the function fresh returns, both outside the timer.
func benchCopy(b *testing.B, src []byte, fresh func() (dst []byte, release func())) {
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dst, release := fresh()
		b.StartTimer()
		copy(dst, src)
		b.StopTimer()
		release()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(src))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func mapPrivate(b *testing.B) mmap.MMap {
	m, err := mmap.MapRegion(nil, copySize, mmap.RDWR, mmap.ANON, 0)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func unmapOrFatal(b *testing.B, m mmap.MMap) {
	if err := m.Unmap(); err != nil {
		b.Fatal(err)
	}
}

func closeOrFatal(b *testing.B, seg *shm.Segment) {
	if err := seg.Close(); err != nil {
		b.Fatal(err)
	}
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
