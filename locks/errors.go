package locks

import "errors"

// Errors returned by this package, matched with errors.Is.
var (
	// ErrOwnerDead: the process that held the Mutex died holding it. The
	// caller now holds the lock; it must repair the data the lock guards and
	// call MarkConsistent before Unlock, or the Mutex becomes unrecoverable.
	ErrOwnerDead = errors.New("locks: owner died holding the lock")
	// ErrNotRecoverable: a previous holder took the lock after its owner
	// died and unlocked it without MarkConsistent. The lock is permanently
	// unusable; the data it guards cannot be trusted.
	ErrNotRecoverable = errors.New("locks: lock is not recoverable")
	// ErrOverRelease: BoundedSemaphore.Release would raise the count above
	// its initial value.
	ErrOverRelease = errors.New("locks: semaphore released too many times")
	// ErrBrokenBarrier: the Barrier was aborted or reset, a waiter gave up
	// or died, while this waiter waited (or before it arrived).
	ErrBrokenBarrier = errors.New("locks: barrier is broken")
	// ErrCorrupt: a primitive's words in shared memory hold values no
	// correct use can produce (another process wrote garbage, or the
	// memory was never initialized with Init).
	ErrCorrupt = errors.New("locks: invalid state in shared memory")
)
