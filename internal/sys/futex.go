package sys

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Futex operations (linux/futex.h). FUTEX_PRIVATE_FLAG (128) is deliberately
// absent: shared-memory words must be keyed by (inode, offset), not by
// (mm, address), or a waker in another process would never find the waiter.
const (
	futexWait = 0
	futexWake = 1
)

// Bits of a robust futex word (linux/futex.h). The kernel's exit-time walk of
// a thread's robust list treats a word whose low 30 bits equal the dying
// thread's TID as owned by it: it sets FutexOwnerDied, keeps FutexWaiters,
// clears the TID, and wakes one waiter when FutexWaiters was set.
const (
	FutexWaiters   = 0x80000000
	FutexOwnerDied = 0x40000000
	FutexTIDMask   = 0x3fffffff
)

// WakeAll is the count that wakes every waiter.
const WakeAll = 1<<31 - 1

// Waitv flags (linux/futex.h, FUTEX2_*).
const (
	Futex2Size32 = 0x02
)

// Waitv is struct futex_waitv: one word of a futex_waitv call. Uaddr is the
// word's address; the layout is fixed by the kernel ABI.
type Waitv struct {
	Val      uint64
	Uaddr    uint64
	Flags    uint32
	reserved uint32
}

// Timespec converts a relative duration to a unix.Timespec, clamping
// negative durations to zero.
func Timespec(d time.Duration) unix.Timespec {
	if d < 0 {
		d = 0
	}
	return unix.NsecToTimespec(int64(d))
}

var waitvOnce = sync.OnceValue(probeWaitv)

// HaveWaitv reports whether the running kernel implements futex_waitv
// (Linux 5.16 and later). The probe runs once per process.
func HaveWaitv() bool { return waitvOnce() }
