// Package sys holds shmkit's thin wrappers over the Linux system calls that
// golang.org/x/sys/unix lacks or that shmkit wants in one place: futex
// wait/wake (FUTEX_WAIT, FUTEX_WAKE, futex_waitv), memfd_create, ftruncate,
// fallocate, file seals, pidfd_open, gettid and set_robust_list.
//
// The wrappers are mechanical: one wrapper per system call, the errno as the
// error (a unix.Errno, so errors.Is(err, unix.EAGAIN) works), no retries and
// no policy. Callers decide what EINTR, EAGAIN and ETIMEDOUT mean; for futex
// waits they always mean "look at the word again".
//
// Futex operations never use FUTEX_PRIVATE_FLAG: every word shmkit waits on
// may live in memory shared with another process. Blocking calls go through
// unix.Syscall6, never RawSyscall, so the Go scheduler knows the thread is
// blocked and can run other goroutines meanwhile.
package sys
