package locks

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func casWord(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }
func swapWord(p *uint32, new uint32) uint32   { return atomic.SwapUint32(p, new) }

// Spinning. A waiter on a word that another process will change within
// microseconds is best served by watching the word: a futex sleep and wake
// costs tens of microseconds on a VM. spinIters bounds the watch (a few
// microseconds on current CPUs) so a long wait still ends in the kernel,
// burning nothing. The loop does not yield: runtime.Gosched costs tens of
// microseconds in a goroutine locked to its thread, and a few microseconds
// of spinning is well within Go's preemption.
const spinIters = 2000

// spin watches cond for a bounded time and reports whether it became true.
func spin(cond func() bool) bool {
	for i := 0; i < spinIters; i++ {
		if cond() {
			return true
		}
	}
	return false
}

// livenessInterval bounds a sleep on a word whose owner may have died
// without the kernel noticing (pid namespaces, a robust list too long for
// the kernel's walk). After it, the waiter checks the owner and sleeps again.
const livenessInterval = 250 * time.Millisecond

// maxPid is PID_MAX_LIMIT on 64-bit Linux: no thread or process id is
// larger, so a larger owner id is garbage and its "owner" is dead.
const maxPid = 1 << 22

// alive reports whether the thread or process id is in use. EPERM (exists,
// not ours to signal) counts as alive.
func alive(id uint32) bool {
	if id == 0 || id > maxPid {
		return false
	}
	return unix.Kill(int(id), 0) != unix.ESRCH
}

// Spinning on a Mutex. A holder that locks and unlocks in a loop writes the
// word (and the data it guards) every few nanoseconds; a waiter that reads
// the word in a tight loop pulls its cache line away each time, so every
// hand-off costs the holder a cache miss, and two processes end up taking
// turns at the speed of the interconnect (about 8 M increments/s here
// instead of 18). So a Mutex waiter reads the word at doubling intervals,
// for well under a microsecond in all, then sleeps: the holder runs on at
// full speed and wakes it when it unlocks (BenchmarkMutexContended2Proc).
const (
	mutexSpinIters = 10
	mutexMaxDelay  = 256 // iterations of the delay loop
)

// spinBackoff is spin for a Mutex word (see above).
func spinBackoff(cond func() bool) bool {
	delay, n := 1, 0
	for range mutexSpinIters {
		if cond() {
			return true
		}
		for range delay {
			n++
		}
		delay = min(2*delay, mutexMaxDelay)
	}
	runtime.KeepAlive(n) // the delay loop's result is used: it stays
	return false
}
