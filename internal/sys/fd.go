package sys

import "golang.org/x/sys/unix"

// Memfd flags and seals re-exported for callers that should not import unix
// for two constants.
const (
	MFD_CLOEXEC       = unix.MFD_CLOEXEC
	MFD_ALLOW_SEALING = unix.MFD_ALLOW_SEALING
	SealShrink        = unix.F_SEAL_SHRINK
	SealGrow          = unix.F_SEAL_GROW
	SealWrite         = unix.F_SEAL_WRITE
	SealSeal          = unix.F_SEAL_SEAL
)

// MemfdCreate is memfd_create(2).
func MemfdCreate(name string, flags int) (int, error) { return unix.MemfdCreate(name, flags) }

// Ftruncate is ftruncate(2).
func Ftruncate(fd int, size int64) error { return unix.Ftruncate(fd, size) }

// Fallocate is fallocate(2) with mode 0: it reserves the blocks (on tmpfs,
// the pages) of [off, off+n) so later writes cannot fail for lack of space.
func Fallocate(fd int, off, n int64) error { return unix.Fallocate(fd, 0, off, n) }

// AddSeals is fcntl(fd, F_ADD_SEALS, seals).
func AddSeals(fd int, seals int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
	return err
}

// GetSeals is fcntl(fd, F_GET_SEALS).
func GetSeals(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0) }

// PidfdOpen is pidfd_open(2) with the given flags.
func PidfdOpen(pid int, flags int) (int, error) { return unix.PidfdOpen(pid, flags) }

// Gettid is gettid(2).
func Gettid() int { return unix.Gettid() }
