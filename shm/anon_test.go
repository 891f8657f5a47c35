package shm_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestAnonymous(t *testing.T) {
	const size = 64 << 10
	seg, err := shm.Anonymous(size)
	require.NoError(t, err)
	defer seg.Close()

	assert.Empty(t, seg.Name())
	assert.Equal(t, int64(size), seg.Size())
	assert.False(t, seg.ReadOnly())
	assert.Equal(t, make([]byte, size), seg.Bytes())
	assert.NoError(t, seg.Unlink(), "Unlink of an anonymous segment does nothing")
	assert.Contains(t, seg.String(), "anonymous")

	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(seg.Fd()))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(target, "/memfd:"), "fd target %q", target)

	seals, err := unix.FcntlInt(uintptr(seg.Fd()), unix.F_GET_SEALS, 0)
	require.NoError(t, err)
	assert.NotZero(t, seals&unix.F_SEAL_SHRINK, "seals %#x", seals)
}

func TestAnonymousCannotShrink(t *testing.T) {
	const size = 64 << 10
	seg, err := shm.Anonymous(size)
	require.NoError(t, err)
	defer seg.Close()
	copy(seg.Bytes()[size-5:], "tail!")

	assert.ErrorIs(t, unix.Ftruncate(seg.Fd(), size/2), unix.EPERM)
	assert.ErrorIs(t, unix.Ftruncate(seg.Fd(), 0), unix.EPERM)

	// Nor through a duplicate, as a peer would hold it.
	f, err := seg.Dup()
	require.NoError(t, err)
	defer f.Close()
	assert.ErrorIs(t, f.Truncate(size-1), unix.EPERM)

	var st unix.Stat_t
	require.NoError(t, unix.Fstat(seg.Fd(), &st))
	assert.Equal(t, int64(size), st.Size)
	assert.Equal(t, "tail!", string(seg.Bytes()[size-5:]))
}

func TestAnonymousAcrossProcesses(t *testing.T) {
	const size = 1 << 20
	seg, err := shm.Anonymous(size)
	require.NoError(t, err)
	defer seg.Close()
	copy(seg.Bytes(), pattern(replyOffset(size), 9))

	f, err := seg.Dup()
	require.NoError(t, err)
	child := proctest.Start(t, roleAnonChild, []string{"9"}, &proctest.Options{Files: []*os.File{f}})
	require.NoError(t, f.Close(), "the child holds its own copy")
	child.MustSucceed(t, time.Minute)

	want := replyFrom(child.Pid())
	off := replyOffset(size)
	assert.Equal(t, string(want), string(seg.Bytes()[off:off+len(want)]))
}

func TestFromFd(t *testing.T) {
	t.Run("sealed-memfd", func(t *testing.T) {
		seg, err := shm.Anonymous(8192)
		require.NoError(t, err)
		defer seg.Close()
		copy(seg.Bytes(), "from the owner")

		fd, err := unix.FcntlInt(uintptr(seg.Fd()), unix.F_DUPFD_CLOEXEC, 0)
		require.NoError(t, err)
		peer, err := shm.FromFd(fd, nil)
		if err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		defer peer.Close()
		assert.Equal(t, fd, peer.Fd(), "FromFd owns the descriptor it was given")
		assert.Equal(t, int64(8192), peer.Size())
		assert.Empty(t, peer.Name())
		assert.Equal(t, "from the owner", string(peer.Bytes()[:14]))
		copy(peer.Bytes()[100:], "from the peer")
		assert.Equal(t, "from the peer", string(seg.Bytes()[100:113]))

		require.NoError(t, peer.Close())
		_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		assert.ErrorIs(t, err, unix.EBADF, "Close closes the adopted descriptor")
	})

	t.Run("read-only", func(t *testing.T) {
		seg, err := shm.Anonymous(4096)
		require.NoError(t, err)
		defer seg.Close()
		copy(seg.Bytes(), "ro")
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(seg.Fd()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		peer, err := shm.FromFd(fd, &shm.Options{ReadOnly: true})
		if err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		defer peer.Close()
		assert.True(t, peer.ReadOnly())
		assert.Equal(t, "ro", string(peer.Bytes()[:2]))
		_, faulted := writeFaults(peer.Bytes())
		assert.True(t, faulted, "writing a read-only mapping did not fault")
	})

	// A /dev/shm file cannot be sealed; it is accepted as it is.
	t.Run("named-segment-file", func(t *testing.T) {
		seg, name := newSegment(t, 4096, nil)
		copy(seg.Bytes(), "named")
		fd, err := unix.Open(filepath.Join(shm.Dir, name), unix.O_RDWR|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		peer, err := shm.FromFd(fd, nil)
		if err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		defer peer.Close()
		assert.Equal(t, "named", string(peer.Bytes()[:5]))
	})

	unsealed := func(t *testing.T, flags int) {
		fd, err := unix.MemfdCreate("shmkit-test-unsealed", flags)
		require.NoError(t, err)
		defer unix.Close(fd)
		require.NoError(t, unix.Ftruncate(fd, 4096))

		_, err = shm.FromFd(fd, nil)
		require.ErrorIs(t, err, shm.ErrNotSealed)
		// The refused descriptor is still the caller's.
		_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		assert.NoError(t, err)
	}
	t.Run("memfd-without-sealing", func(t *testing.T) { unsealed(t, unix.MFD_CLOEXEC) })
	t.Run("memfd-sealable-not-sealed", func(t *testing.T) {
		unsealed(t, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	})
	t.Run("memfd-sealed-against-growing-only", func(t *testing.T) {
		fd, err := unix.MemfdCreate("shmkit-test-grow-sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		require.NoError(t, err)
		defer unix.Close(fd)
		require.NoError(t, unix.Ftruncate(fd, 4096))
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_GROW)
		require.NoError(t, err)
		_, err = shm.FromFd(fd, nil)
		assert.ErrorIs(t, err, shm.ErrNotSealed)
	})

	t.Run("bad-descriptors", func(t *testing.T) {
		_, err := shm.FromFd(-1, nil)
		assert.ErrorIs(t, err, unix.EBADF)

		// An empty sealed memfd has nothing to map.
		fd, err := unix.MemfdCreate("shmkit-test-empty", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		require.NoError(t, err)
		defer unix.Close(fd)
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK)
		require.NoError(t, err)
		_, err = shm.FromFd(fd, nil)
		assert.ErrorIs(t, err, shm.ErrInvalidSize)

		// A pipe is not a segment.
		var p [2]int
		require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		_, err = shm.FromFd(p[0], nil)
		assert.ErrorIs(t, err, shm.ErrInvalidSize)
	})
}

// The AddCleanup safety net: a segment nobody closed is released once the
// garbage collector finds it unreachable.
func TestForgottenSegmentIsReleased(t *testing.T) {
	entry := forgetAnonymous(t)
	require.Contains(t, proctest.ShmFds(), entry)

	for range 200 {
		runtime.GC()
		if !slices.Contains(proctest.ShmFds(), entry) {
			return
		}
		// Cleanups run on their own goroutine after the collection.
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("descriptor %s of a forgotten segment is still open after 200 collections", entry)
}

// forgetAnonymous makes an anonymous segment, touches it and drops it
// without Close. It returns the segment's descriptor as ShmFds lists it.
//
//go:noinline
func forgetAnonymous(t *testing.T) string {
	seg, err := shm.Anonymous(1 << 20)
	require.NoError(t, err)
	seg.Bytes()[0] = 1
	fd := strconv.Itoa(seg.Fd())
	target, err := os.Readlink("/proc/self/fd/" + fd)
	require.NoError(t, err)
	return fd + " -> " + target
}
