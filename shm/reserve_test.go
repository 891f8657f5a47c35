package shm_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// reserveFSOpts are the mount options of the small tmpfs the reservation
// test puts over /dev/shm in its own mount namespace.
const reserveFSOpts = "size=256k,mode=1777"

// namespaceAttr puts a child in new user and mount namespaces, as root of
// the user namespace (mapped to our uid and gid), so it may mount a tmpfs
// without privileges in the real system.
func namespaceAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
}

// probeNamespaces starts a do-nothing copy of the test binary with attr and
// returns the error when the kernel refuses the namespaces.
func probeNamespaces(attr *syscall.SysProcAttr) error {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.SysProcAttr = attr
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	return cmd.Run()
}

// A full file system is an error from Create (reservation), not a SIGBUS
// later; NoReserve still makes a sparse segment. Run in a child that has a
// 256 KiB tmpfs as its /dev/shm, so the real one is never filled.
func TestReservationOnFullFileSystem(t *testing.T) {
	attr := namespaceAttr()
	if err := probeNamespaces(attr); err != nil {
		switch {
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL),
			errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EACCES):
			// EPERM: unprivileged user namespaces disabled (sysctl or
			// LSM); EINVAL: kernel without CONFIG_USER_NS; ENOSPC:
			// user.max_user_namespaces is 0.
			t.Skipf("cannot start a child in new user+mount namespaces: %v (needs CONFIG_USER_NS and unprivileged user namespaces enabled)", err)
		}
		t.Fatalf("probe child in new user+mount namespaces: %v", err)
	}

	names := []string{proctest.Name(t), proctest.Name(t), proctest.Name(t)}
	child := proctest.Start(t, roleReserveChild, names, &proctest.Options{SysProcAttr: attr})
	err := child.Wait(t, time.Minute)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == exitSkip {
		t.Skipf("child in new namespaces: %s", child.Output())
	}
	require.NoError(t, err, "child output:\n%s", child.Output())

	// The child's segments lived in its own tmpfs, never in ours.
	for _, name := range names {
		_, err := os.Stat(filepath.Join(shm.Dir, name))
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s in the real %s", name, shm.Dir)
	}
}

// reserveChild runs in new user and mount namespaces. It mounts a small
// tmpfs over /dev/shm, fills three quarters of it with a reserved segment,
// and checks what Create does with the rest. args: three segment names.
func reserveChild() int {
	names := proctest.Args()
	if len(names) != 3 {
		return childFail("want 3 names, got %q", names)
	}
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return mountFailed("make the mount tree private", err)
	}
	if err := unix.Mount("shmkit-test", shm.Dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, reserveFSOpts); err != nil {
		return mountFailed("mount tmpfs on "+shm.Dir, err)
	}

	statfs := func() (total, free int64, err error) {
		var st unix.Statfs_t
		if err := unix.Statfs(shm.Dir, &st); err != nil {
			return 0, 0, err
		}
		return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
	}
	total, free, err := statfs()
	if err != nil {
		return childFail("statfs: %v", err)
	}
	// Never fill a file system that is not the one just mounted.
	if total != 256<<10 || free != total {
		return childFail("%s is not the fresh 256 KiB tmpfs: total %d, free %d", shm.Dir, total, free)
	}
	fmt.Printf("%s: tmpfs of %d bytes\n", shm.Dir, total)

	fill, err := shm.Create(names[0], total*3/4, nil)
	if err != nil {
		return childFail("Create fill of %d bytes: %v", total*3/4, err)
	}
	defer fill.Close()
	_, free, _ = statfs()
	fmt.Printf("reserved %d bytes, %d free\n", fill.Size(), free)
	if free > total/4 {
		return childFail("after reserving %d bytes, %d are free: the reservation did not allocate", fill.Size(), free)
	}

	// Below the file system's size, above its free space: no room.
	size := total / 2
	_, err = shm.Create(names[1], size, nil)
	fmt.Printf("Create(%d bytes): %v\n", size, err)
	switch {
	case !errors.Is(err, shm.ErrNoSpace):
		return childFail("Create of %d bytes with %d free: %v, want ErrNoSpace", size, free, err)
	case !errors.Is(err, unix.ENOSPC):
		return childFail("Create of %d bytes: %v does not match ENOSPC", size, err)
	}
	if _, err := os.Stat(filepath.Join(shm.Dir, names[1])); !errors.Is(err, fs.ErrNotExist) {
		return childFail("the failed Create left %s behind: %v", names[1], err)
	}
	if _, after, _ := statfs(); after != free {
		return childFail("the failed Create changed free space from %d to %d", free, after)
	}

	// NoReserve: a sparse segment, usable as far as memory is there.
	sparse, err := shm.Create(names[1], size, &shm.Options{NoReserve: true})
	if err != nil {
		return childFail("Create NoReserve of %d bytes: %v", size, err)
	}
	defer sparse.Close()
	if sparse.Size() != size {
		return childFail("sparse segment: Size %d, want %d", sparse.Size(), size)
	}
	copy(sparse.Bytes(), "first page only")
	fmt.Printf("Create NoReserve(%d bytes): ok\n", size)

	// Larger than the whole file system: the size is wrong, not the space.
	_, err = shm.Create(names[2], total+4096, &shm.Options{NoReserve: true})
	fmt.Printf("Create(%d bytes): %v\n", total+4096, err)
	if !errors.Is(err, shm.ErrInvalidSize) {
		return childFail("Create of %d bytes on a %d-byte file system: %v, want ErrInvalidSize", total+4096, total, err)
	}

	for _, seg := range []*shm.Segment{fill, sparse} {
		if err := seg.Unlink(); err != nil {
			return childFail("unlink %v: %v", seg, err)
		}
	}
	ents, err := os.ReadDir(shm.Dir)
	if err != nil || len(ents) != 0 {
		return childFail("%s not empty at the end: %v %v", shm.Dir, ents, err)
	}
	return 0
}

func mountFailed(what string, err error) int {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		fmt.Fprintf(os.Stderr, "%s in a user namespace: %v (a security module or sysctl forbids it)\n", what, err)
		return exitSkip
	}
	return childFail("%s: %v", what, err)
}
