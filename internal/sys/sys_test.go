package sys

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	for i, n := 0, 0; i < len(u.Release); i++ {
		c := u.Release[i]
		if c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
			continue
		}
		if ma == 0 {
			ma, n = n, 0
			continue
		}
		mi = n
		break
	}
	return ma > major || (ma == major && mi >= minor)
}

func TestFutexWaitValueMismatch(t *testing.T) {
	var w uint32 = 1
	if err := FutexWait(&w, 0, nil); err != unix.EAGAIN {
		t.Fatalf("wait on a changed word: %v, want EAGAIN", err)
	}
}

func TestFutexWaitTimeout(t *testing.T) {
	var w uint32
	ts := Timespec(time.Millisecond)
	if err := FutexWait(&w, 0, &ts); err != unix.ETIMEDOUT {
		t.Fatalf("timed wait: %v, want ETIMEDOUT", err)
	}
	ts = Timespec(-time.Second) // clamped to zero: returns at once
	if err := FutexWait(&w, 0, &ts); err != unix.ETIMEDOUT {
		t.Fatalf("zero wait: %v, want ETIMEDOUT", err)
	}
}

func TestFutexWakeWakesSleeper(t *testing.T) {
	var w uint32
	done := make(chan error)
	go func() {
		for atomic.LoadUint32(&w) == 0 {
			if err := FutexWait(&w, 0, nil); err != nil && err != unix.EAGAIN && err != unix.EINTR {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Wake until the sleeper has been woken at least once after the store.
	time.Sleep(10 * time.Millisecond)
	atomic.StoreUint32(&w, 1)
	for {
		if _, err := FutexWake(&w, WakeAll); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func TestFutexWakeNobody(t *testing.T) {
	var w uint32
	n, err := FutexWake(&w, 1)
	if err != nil || n != 0 {
		t.Fatalf("wake with no sleeper: %d, %v", n, err)
	}
}

func TestFutexWaitv(t *testing.T) {
	if !HaveWaitv() {
		if kernelAtLeast(t, 5, 16) {
			t.Fatal("futex_waitv missing on a kernel >= 5.16")
		}
		t.Skip("futex_waitv needs Linux 5.16")
	}
	var a, b uint32 = 0, 7
	ws := []Waitv{
		{Val: 0, Uaddr: WaitvAddr(&a), Flags: Futex2Size32},
		{Val: 6, Uaddr: WaitvAddr(&b), Flags: Futex2Size32}, // b already differs
	}
	if _, err := FutexWaitv(ws, nil, unix.CLOCK_MONOTONIC); err != unix.EAGAIN {
		t.Fatalf("waitv with a changed word: %v, want EAGAIN", err)
	}
	ws[1].Val = 7
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		t.Fatal(err)
	}
	deadline := unix.NsecToTimespec(now.Nano() + int64(time.Millisecond))
	if _, err := FutexWaitv(ws, &deadline, unix.CLOCK_MONOTONIC); err != unix.ETIMEDOUT {
		t.Fatalf("waitv until deadline: %v, want ETIMEDOUT", err)
	}
	res := make(chan int)
	go func() {
		for {
			i, err := FutexWaitv(ws, nil, unix.CLOCK_MONOTONIC)
			if err == nil || err == unix.EAGAIN {
				res <- i
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	atomic.StoreUint32(&b, 8)
	for {
		_, _ = FutexWake(&b, WakeAll)
		select {
		case i := <-res:
			if i != 1 && i != -1 {
				t.Fatalf("woken index %d, want 1", i)
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func TestMemfdSeals(t *testing.T) {
	fd, err := MemfdCreate("sys-test", MFD_CLOEXEC|MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := Ftruncate(fd, 8192); err != nil {
		t.Fatal(err)
	}
	if err := Fallocate(fd, 0, 8192); err != nil {
		t.Fatal(err)
	}
	if err := AddSeals(fd, SealShrink); err != nil {
		t.Fatal(err)
	}
	seals, err := GetSeals(fd)
	if err != nil || seals&SealShrink == 0 {
		t.Fatalf("seals %#x, %v", seals, err)
	}
	if err := Ftruncate(fd, 4096); !errors.Is(err, unix.EPERM) {
		t.Fatalf("shrinking a sealed memfd: %v, want EPERM", err)
	}
	if err := Ftruncate(fd, 16384); err != nil {
		t.Fatalf("growing: %v", err)
	}
}

func TestPidfdOpen(t *testing.T) {
	fd, err := PidfdOpen(os.Getpid(), 0)
	if errors.Is(err, unix.ENOSYS) {
		if kernelAtLeast(t, 5, 3) {
			t.Fatal("pidfd_open missing on a kernel >= 5.3")
		}
		t.Skip("pidfd_open needs Linux 5.3")
	}
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := PidfdOpen(-1, 0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("pidfd_open(-1): %v, want EINVAL", err)
	}
}

func TestSetRobustList(t *testing.T) {
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // the thread exits with the goroutine, taking the list with it
		head := new(RobustListHead)
		head.List = uintptrOf(head)
		done <- SetRobustList(head)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if Gettid() <= 0 {
		t.Fatal("gettid")
	}
}
