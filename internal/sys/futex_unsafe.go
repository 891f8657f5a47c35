package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// FutexWait is FUTEX_WAIT on the shared word at addr: it sleeps while *addr
// equals val, for at most the relative timeout ts (nil means no limit).
// It returns nil when woken (possibly spuriously), unix.EAGAIN when *addr
// already differed from val, unix.ETIMEDOUT when ts expired and unix.EINTR
// when a signal interrupted the wait.
func FutexWait(addr *uint32, val uint32, ts *unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// FutexWake is FUTEX_WAKE on the shared word at addr: it wakes at most n
// waiters and returns how many it woke.
func FutexWake(addr *uint32, n int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake,
		uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// FutexWaitv is futex_waitv(2): it sleeps until one of the words in ws no
// longer holds its Val or is woken, until the absolute deadline on clock
// (nil means no deadline). It returns the index of the woken word, or an
// errno (EAGAIN: some word already differed; ETIMEDOUT; EINTR; ENOSYS on
// kernels before 5.16).
func FutexWaitv(ws []Waitv, deadline *unix.Timespec, clock int32) (int, error) {
	var p unsafe.Pointer
	if len(ws) > 0 {
		p = unsafe.Pointer(&ws[0])
	}
	r, _, e := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(p), uintptr(len(ws)), 0,
		uintptr(unsafe.Pointer(deadline)), uintptr(clock), 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// WaitvAddr returns the address of a 32-bit word for Waitv.Uaddr.
func WaitvAddr(word *uint32) uint64 { return uint64(uintptr(unsafe.Pointer(word))) }

func probeWaitv() bool {
	// An empty vector is EINVAL on kernels that know the call and ENOSYS on
	// the rest; it never sleeps.
	_, err := FutexWaitv(nil, nil, unix.CLOCK_MONOTONIC)
	return err != unix.ENOSYS
}

// RobustListHead is struct robust_list_head (linux/futex.h): the per-thread
// anchor of the list of robust futexes the thread holds. List is the address
// of the first entry (the head's own address when empty), FutexOffset the
// distance from an entry to its futex word, ListOpPending the entry being
// locked or unlocked right now (0 if none).
type RobustListHead struct {
	List          uintptr
	FutexOffset   int64
	ListOpPending uintptr
}

// SetRobustList registers head as the calling thread's robust list
// (set_robust_list(2)). The caller must be locked to its OS thread, and head
// must stay valid and unmoved for the life of the thread.
func SetRobustList(head *RobustListHead) error {
	_, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(head)),
		unsafe.Sizeof(*head), 0)
	if e != 0 {
		return e
	}
	return nil
}
