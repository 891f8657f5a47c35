package shm_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// newSegment creates a segment under a fresh test name. The test's cleanup
// closes and unlinks it, so a failing test leaves nothing in /dev/shm.
func newSegment(t *testing.T, size int64, opts *shm.Options) (*shm.Segment, string) {
	t.Helper()
	name := proctest.Name(t)
	seg, err := shm.Create(name, size, opts)
	require.NoError(t, err)
	t.Cleanup(func() { closeAndUnlink(t, seg) })
	return seg, name
}

// closeAndUnlink closes seg and removes its name unless the test already did.
func closeAndUnlink(t testing.TB, seg *shm.Segment) {
	t.Helper()
	assert.NoError(t, seg.Close())
	if err := seg.Unlink(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unlink %v: %v", seg, err)
	}
}

// removeName removes name from /dev/shm whatever it is, at the end of t.
func removeName(t *testing.T, name string) {
	t.Cleanup(func() {
		if err := os.Remove(filepath.Join(shm.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("remove %s: %v", name, err)
		}
	})
}

func TestCreateIsZeroFilled(t *testing.T) {
	const size = 3*4096 + 100 // not a page multiple: the mapping is exactly size long
	seg, name := newSegment(t, size, nil)

	assert.Equal(t, name, seg.Name())
	assert.Equal(t, int64(size), seg.Size())
	assert.False(t, seg.ReadOnly())
	assert.GreaterOrEqual(t, seg.Fd(), 0)
	b := seg.Bytes()
	require.Len(t, b, size)
	assert.Equal(t, make([]byte, size), b)

	st, err := os.Stat(filepath.Join(shm.Dir, name))
	require.NoError(t, err)
	assert.Equal(t, int64(size), st.Size())
	assert.True(t, st.Mode().IsRegular())
}

func TestOpenSeesCreatorsBytes(t *testing.T) {
	const size = 64 << 10
	seg, name := newSegment(t, size, nil)
	copy(seg.Bytes(), pattern(size, 1))

	other, err := shm.Open(name, nil)
	require.NoError(t, err)
	defer other.Close()
	assert.Equal(t, name, other.Name())
	assert.Equal(t, int64(size), other.Size())
	assert.Equal(t, pattern(size, 1), other.Bytes())

	// Two mappings of one segment: a write through either shows in both.
	copy(other.Bytes()[100:], "written through the second mapping")
	assert.Equal(t, "written through the second mapping", string(seg.Bytes()[100:134]))
}

func TestCreateTakenName(t *testing.T) {
	seg, name := newSegment(t, 4096, nil)
	copy(seg.Bytes(), "original")

	_, err := shm.Create(name, 8192, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrExist)
	assert.ErrorIs(t, err, unix.EEXIST)
	assert.Contains(t, err.Error(), name)

	// The failed Create left the existing segment alone.
	again, err := shm.Open(name, nil)
	require.NoError(t, err)
	defer again.Close()
	assert.Equal(t, int64(4096), again.Size())
	assert.Equal(t, "original", string(again.Bytes()[:8]))
}

func TestOpenMissing(t *testing.T) {
	_, err := shm.Open(proctest.Name(t), nil)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorIs(t, err, unix.ENOENT)
	assert.ErrorIs(t, shm.Unlink(proctest.Name(t)), fs.ErrNotExist)
}

func TestUnlink(t *testing.T) {
	seg, name := newSegment(t, 4096, nil)
	copy(seg.Bytes(), "still mapped")

	require.NoError(t, seg.Unlink())
	_, err := shm.Open(name, nil)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(filepath.Join(shm.Dir, name))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorIs(t, seg.Unlink(), fs.ErrNotExist, "second unlink")

	// The mapping outlives the name.
	assert.Equal(t, "still mapped", string(seg.Bytes()[:12]))

	// The name is free for a new segment, which is a different one.
	fresh, err := shm.Create(name, 4096, nil)
	require.NoError(t, err)
	defer closeAndUnlink(t, fresh)
	assert.Equal(t, make([]byte, 12), fresh.Bytes()[:12])
}

func TestLeadingSlash(t *testing.T) {
	name := proctest.Name(t)
	removeName(t, name)

	seg, err := shm.Create("/"+name, 4096, nil)
	require.NoError(t, err)
	defer seg.Close()
	assert.Equal(t, name, seg.Name(), "the leading slash is not part of the name")
	_, err = os.Stat(filepath.Join(shm.Dir, name))
	require.NoError(t, err)

	for _, n := range []string{name, "/" + name} {
		other, err := shm.Open(n, nil)
		require.NoError(t, err, "Open(%q)", n)
		assert.Equal(t, name, other.Name())
		require.NoError(t, other.Close())
	}
	require.NoError(t, shm.Unlink("/"+name))
	_, err = os.Stat(filepath.Join(shm.Dir, name))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestInvalidNames(t *testing.T) {
	long := strings.Repeat("n", shm.MaxNameLen+1)
	tests := []struct {
		name string
		says string // part of the message that names the problem
	}{
		{"", "empty"},
		{"/", "empty"},
		{"a/b", "'/'"},
		{"//a", "'/'"},
		{"a/", "'/'"},
		{"a\x00b", "NUL"},
		{long, "256 bytes long"},
		{"/" + long, "256 bytes long"},
		{".", "not a file name"},
		{"..", "not a file name"},
		{"/..", "not a file name"},
	}
	for _, tt := range tests {
		_, err := shm.ValidateName(tt.name)
		require.ErrorIs(t, err, shm.ErrInvalidName, "ValidateName(%q)", tt.name)
		assert.Contains(t, err.Error(), tt.says, "ValidateName(%q)", tt.name)

		_, err = shm.Create(tt.name, 4096, nil)
		assert.ErrorIs(t, err, shm.ErrInvalidName, "Create(%q)", tt.name)
		_, err = shm.Open(tt.name, nil)
		assert.ErrorIs(t, err, shm.ErrInvalidName, "Open(%q)", tt.name)
		assert.ErrorIs(t, shm.Unlink(tt.name), shm.ErrInvalidName, "Unlink(%q)", tt.name)
	}

	// The longest valid name works, with or without the slash.
	maxName := proctest.Prefix() + strings.Repeat("m", shm.MaxNameLen-len(proctest.Prefix()))
	n, err := shm.ValidateName("/" + maxName)
	require.NoError(t, err)
	assert.Equal(t, maxName, n)
	seg, err := shm.Create(maxName, 4096, nil)
	require.NoError(t, err)
	closeAndUnlink(t, seg)
}

func TestInvalidSizes(t *testing.T) {
	for _, size := range []int64{0, -1, -4096, -1 << 63} {
		name := proctest.Name(t)
		_, err := shm.Create(name, size, nil)
		assert.ErrorIs(t, err, shm.ErrInvalidSize, "Create size %d", size)
		_, err = shm.Anonymous(size)
		assert.ErrorIs(t, err, shm.ErrInvalidSize, "Anonymous size %d", size)
		_, err = os.Stat(filepath.Join(shm.Dir, name))
		assert.ErrorIs(t, err, fs.ErrNotExist, "Create size %d left a file", size)
	}
}

func TestSizeBeyondFileSystem(t *testing.T) {
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(shm.Dir, &st))
	total := int64(st.Blocks) * st.Bsize
	if total <= 0 {
		t.Skipf("%s reports no size limit (blocks=%d); nothing is beyond it", shm.Dir, st.Blocks)
	}
	for _, opts := range []*shm.Options{nil, {NoReserve: true}} {
		name := proctest.Name(t)
		_, err := shm.Create(name, total+4096, opts)
		require.ErrorIs(t, err, shm.ErrInvalidSize, "opts %+v", opts)
		assert.Contains(t, err.Error(), shm.Dir)
		_, err = os.Stat(filepath.Join(shm.Dir, name))
		assert.ErrorIs(t, err, fs.ErrNotExist, "the failed Create left a file")
	}
}

func TestOpenDoesNotFollowSymlinks(t *testing.T) {
	target := filepath.Join(t.TempDir(), "target")
	require.NoError(t, os.WriteFile(target, bytes.Repeat([]byte("t"), 4096), 0o600))
	name := proctest.Name(t)
	removeName(t, name)
	require.NoError(t, os.Symlink(target, filepath.Join(shm.Dir, name)))

	_, err := shm.Open(name, nil)
	require.ErrorIs(t, err, unix.ELOOP)
	assert.Contains(t, err.Error(), "symbolic link")
	_, err = shm.Open(name, &shm.Options{ReadOnly: true})
	assert.ErrorIs(t, err, unix.ELOOP)

	// Create neither follows it nor replaces it.
	_, err = shm.Create(name, 4096, nil)
	assert.ErrorIs(t, err, fs.ErrExist)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte("t"), 4096), got)

	// Unlink removes the link, not its target.
	require.NoError(t, shm.Unlink(name))
	_, err = os.Stat(target)
	assert.NoError(t, err)
}

// A FIFO planted under a segment's name is refused at once, even read-only
// (an O_RDONLY open of a FIFO would wait for a writer).
func TestOpenRefusesFIFO(t *testing.T) {
	name := proctest.Name(t)
	path := filepath.Join(shm.Dir, name)
	removeName(t, name)
	require.NoError(t, unix.Mkfifo(path, 0o600))

	for _, opts := range []*shm.Options{nil, {ReadOnly: true}} {
		errc := make(chan error, 1)
		go func() {
			_, err := shm.Open(name, opts)
			errc <- err
		}()
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, shm.ErrInvalidSize, "opts %+v", opts)
			assert.Contains(t, err.Error(), "not a regular file")
		case <-time.After(time.Minute):
			// Not a timing assertion: a guard so a regression fails
			// instead of hanging. Open the write end to release it.
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err == nil {
				defer w.Close()
			}
			t.Fatalf("Open(%q, %+v) of a FIFO blocked", name, opts)
		}
	}
}

// withUmask runs fn with the process umask set to mask. The umask is
// process-wide: tests that use it do not run in parallel.
func withUmask(mask int, fn func()) {
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	fn()
}

func modeOf(t *testing.T, name string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(filepath.Join(shm.Dir, name))
	require.NoError(t, err)
	return st.Mode().Perm()
}

func TestMode(t *testing.T) {
	t.Run("default-0600-despite-permissive-umask", func(t *testing.T) {
		withUmask(0, func() {
			_, name := newSegment(t, 4096, nil)
			assert.Equal(t, fs.FileMode(0o600), modeOf(t, name))
			_, name = newSegment(t, 4096, &shm.Options{})
			assert.Equal(t, fs.FileMode(0o600), modeOf(t, name))
		})
	})
	t.Run("exact-mode-despite-restrictive-umask", func(t *testing.T) {
		withUmask(0o077, func() {
			_, name := newSegment(t, 4096, &shm.Options{Mode: 0o640})
			assert.Equal(t, fs.FileMode(0o640), modeOf(t, name))
		})
	})
	t.Run("exact-mode-despite-default-umask", func(t *testing.T) {
		withUmask(0o022, func() {
			_, name := newSegment(t, 4096, &shm.Options{Mode: 0o666})
			assert.Equal(t, fs.FileMode(0o666), modeOf(t, name))
			_, name = newSegment(t, 4096, &shm.Options{Mode: 0o400})
			assert.Equal(t, fs.FileMode(0o400), modeOf(t, name))
		})
	})
}

func TestReadOnlyOpen(t *testing.T) {
	seg, name := newSegment(t, 8192, nil)
	copy(seg.Bytes(), pattern(8192, 2))

	ro, err := shm.Open(name, &shm.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	assert.True(t, ro.ReadOnly())
	assert.Equal(t, pattern(8192, 2), ro.Bytes())

	// The descriptor is read-only.
	flags, err := unix.FcntlInt(uintptr(ro.Fd()), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.Equal(t, unix.O_RDONLY, flags&unix.O_ACCMODE)

	// So is the mapping: a write faults (made a panic here, not a crash)
	// at the address written.
	addr, faulted := writeFaults(ro.Bytes())
	require.True(t, faulted, "writing a read-only mapping did not fault")
	assert.Equal(t, reflect.ValueOf(ro.Bytes()).Pointer(), addr)

	// Later writes by the owner show through the read-only mapping.
	copy(seg.Bytes(), "update")
	assert.Equal(t, "update", string(ro.Bytes()[:6]))
}

// writeFaults writes to b[0] and reports whether that faulted, and at which
// address.
func writeFaults(b []byte) (addr uintptr, faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		fault, ok := r.(interface{ Addr() uintptr })
		if !ok {
			panic(r)
		}
		addr, faulted = fault.Addr(), true
	}()
	b[0] = 1
	return 0, false
}

func TestNewSegmentRejectsReadOnly(t *testing.T) {
	name := proctest.Name(t)
	_, err := shm.Create(name, 4096, &shm.Options{ReadOnly: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ReadOnly")
	_, err = os.Stat(filepath.Join(shm.Dir, name))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the rejected Create left a file")

	_, err = shm.AnonymousOptions(4096, &shm.Options{ReadOnly: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ReadOnly")
}

func TestOptionsPrefaultAndNoReserve(t *testing.T) {
	for _, opts := range []*shm.Options{{Prefault: true}, {NoReserve: true}, {Prefault: true, NoReserve: true}} {
		seg, name := newSegment(t, 1<<20, opts)
		assert.Equal(t, make([]byte, 1<<20), seg.Bytes(), "opts %+v", opts)
		copy(seg.Bytes()[1<<19:], "middle")

		other, err := shm.Open(name, opts)
		require.NoError(t, err)
		assert.Equal(t, "middle", string(other.Bytes()[1<<19:1<<19+6]))
		require.NoError(t, other.Close())

		anon, err := shm.AnonymousOptions(1<<20, opts)
		require.NoError(t, err)
		assert.Equal(t, make([]byte, 1<<20), anon.Bytes(), "opts %+v", opts)
		require.NoError(t, anon.Close())
	}
}

// Reservation: a reserved segment's pages are allocated at Create, a
// NoReserve one's only when touched.
func TestReservationAllocates(t *testing.T) {
	const size = 1 << 20
	blocks := func(seg *shm.Segment) int64 {
		var st unix.Stat_t
		require.NoError(t, unix.Fstat(seg.Fd(), &st))
		return st.Blocks * 512
	}
	reserved, _ := newSegment(t, size, nil)
	assert.GreaterOrEqual(t, blocks(reserved), int64(size))
	sparse, _ := newSegment(t, size, &shm.Options{NoReserve: true})
	assert.Zero(t, blocks(sparse))
	sparse.Bytes()[0] = 1
	assert.Positive(t, blocks(sparse))
	assert.Less(t, blocks(sparse), int64(size))
}

func TestClose(t *testing.T) {
	seg, name := newSegment(t, 4096, nil)
	fd := seg.Fd()
	require.NoError(t, seg.Close())
	assert.NoError(t, seg.Close(), "Close is idempotent")
	assert.NoError(t, seg.Close())

	assert.Nil(t, seg.Bytes())
	assert.Equal(t, -1, seg.Fd())
	_, err := seg.Dup()
	assert.ErrorIs(t, err, shm.ErrClosed)
	// What was fixed at mapping survives.
	assert.Equal(t, name, seg.Name())
	assert.Equal(t, int64(4096), seg.Size())
	assert.Contains(t, seg.String(), name)

	// The descriptor is closed and the name stays until Unlink.
	_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err == nil {
		// fd was reused: make sure it is not our segment.
		target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		assert.NotContains(t, target, name)
	}
	_, err = os.Stat(filepath.Join(shm.Dir, name))
	assert.NoError(t, err)
}

func TestDup(t *testing.T) {
	seg, name := newSegment(t, 4096, nil)
	f, err := seg.Dup()
	require.NoError(t, err)
	defer f.Close()
	assert.NotEqual(t, seg.Fd(), int(f.Fd()))
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(shm.Dir, name), target)

	// The duplicate stays valid after the segment is closed.
	copy(seg.Bytes(), "dup")
	require.NoError(t, seg.Close())
	buf := make([]byte, 3)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, "dup", string(buf))
}

// Segment methods may be called concurrently (except Close with users of
// Bytes); under -race this checks the locking.
func TestConcurrentAccessors(t *testing.T) {
	seg, _ := newSegment(t, 4096, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_ = seg.Bytes()
				_ = seg.Fd()
				_ = seg.Size()
				_ = seg.Name()
				f, err := seg.Dup()
				if err == nil {
					_ = f.Close()
				} else {
					assert.ErrorIs(t, err, shm.ErrClosed)
				}
			}
		})
	}
	wg.Go(func() { _ = seg.Close() })
	wg.Wait()
	assert.Nil(t, seg.Bytes())
}

func TestNamedAcrossProcesses(t *testing.T) {
	const size = 1 << 20
	seg, name := newSegment(t, size, nil)
	copy(seg.Bytes(), pattern(replyOffset(size), 5))

	child := proctest.Start(t, roleNamedChild, []string{name, "5"}, nil)
	child.MustSucceed(t, time.Minute)
	want := replyFrom(child.Pid())
	off := replyOffset(size)
	assert.Equal(t, string(want), string(seg.Bytes()[off:off+len(want)]))
}

func TestAnonymousBeyondMemory(t *testing.T) {
	if _, err := shm.Anonymous(1 << 62); !errors.Is(err, shm.ErrInvalidSize) {
		t.Fatalf("Anonymous(2^62): %v, want ErrInvalidSize", err)
	}
}
