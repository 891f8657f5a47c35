package ring

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/park"
	"golang.org/x/sys/unix"
)

// Blocking.
//
// A receiver that finds the ring empty, and a sender that finds it full,
// first spin: they retry for a few tens of microseconds, which is what a
// peer on another core needs to make progress, and far less than a futex
// sleep and wake-up cost on a virtual machine. Then they sleep on a 32-bit
// futex word of the wait line: receivers on notEmpty, senders on notFull.
//
// States of a wait word (notEmpty, notFull):
//
//	bit 0      sleepers: a waiter may be asleep on the word, or about to be
//	bits 1-31  sequence: bumped each time the bit is cleared
//
// The sleeper's side, in order (every step a sequentially consistent
// atomic):
//
//  1. v := load(word); if bit 0 is clear, CAS(word, v, v|1) (retry from 1
//     if the CAS fails); v |= 1.
//  2. Re-check the ring with fresh loads of the positions (and, in MPMC,
//     the slot's sequence); if it changed, do not sleep.
//  3. FUTEX_WAIT(word, v), bounded by the backstop interval.
//
// The waker's side, after publishing (a sender's tail or slot-sequence
// update, a receiver's head or slot-sequence update):
//
//  4. v := load(word); if bit 0 is set, CAS(word, v, v+1) — which clears
//     the bit and bumps the sequence — then FUTEX_WAKE(word, all).
//
// No wake-up is lost: in the single total order of sequentially consistent
// operations, either the waker's load (4) comes after the sleeper's CAS (1),
// and the waker changes the word, so FUTEX_WAIT (which compares the word
// with v atomically with queueing the sleeper) either does not sleep or is
// woken; or it comes before, and then the publication, which precedes (4),
// also precedes the sleeper's re-check (2), which sees it. model_test.go
// checks this exhaustively on an abstract model. A waker that finds bit 0
// clear makes no system call, so the fast path costs one load of a line no
// one writes while nobody sleeps.
//
// A sleeper bounds its sleep by backstop and then re-checks, so even a
// peer that breaks the protocol (or dies between publishing and waking)
// delays it by at most that long; the backstop is also when a waiter looks
// for dead peers. Context cancellation wakes a sleeper at once (park.Wait).
//
// Select (select.go) waits on several rings at once with the same
// protocol: step 1 on each ring's word, step 2 for every ring, then one
// FUTEX_WAITV on all the words with the values from step 1.

const (
	sleepersBit = 1

	// spinFor bounds the spinning phase of a blocking call.
	spinFor = 50 * time.Microsecond
	// backstop bounds one futex sleep; then the waiter re-checks.
	backstop = 250 * time.Millisecond
	// livenessAfter is how long a waiter waits on one position before it
	// checks that the peer it waits for is alive.
	livenessAfter = 250 * time.Millisecond
	// unknownOwnerAfter is how long an MPMC waiter waits on a slot whose
	// claimant did not record itself (it died, or was stopped, within the
	// few instructions between claiming and recording) before it treats
	// the claimant as dead.
	unknownOwnerAfter = 2 * time.Second

	// maxRetries and pollInterval bound the damage of garbage that makes a
	// re-check pass while the retry fails.
	maxRetries   = 10000
	pollInterval = time.Millisecond
)

// wake clears the sleepers bit of word, bumping its sequence, and wakes
// every sleeper on it, if the bit is set. Callers have just published.
func wake(word *uint32) {
	for {
		v := atomic.LoadUint32(word)
		if v&sleepersBit == 0 {
			return
		}
		if atomic.CompareAndSwapUint32(word, v, v+1) {
			park.Wake(word, park.WakeAll)
			return
		}
	}
}

// bump changes word and wakes every sleeper on it, whether or not the
// sleepers bit is set (Close).
func bump(word *uint32) {
	for {
		v := atomic.LoadUint32(word)
		if atomic.CompareAndSwapUint32(word, v, (v|sleepersBit)+1) {
			park.Wake(word, park.WakeAll)
			return
		}
	}
}

// waiter is the state of one blocking call between its attempts.
type waiter struct {
	spins   int
	spunAt  time.Time // when spinning started
	stuckAt time.Time // when the watched state was first seen unchanged
	watch   [3]uint64 // the state the last attempt saw
	retries int       // re-checks in a row that said "try again"
}

// observe records the state an attempt failed on and returns how long the
// same state has been seen.
func (w *waiter) observe(a, b, c uint64) time.Duration {
	now := time.Now()
	if w.stuckAt.IsZero() || w.watch != [3]uint64{a, b, c} {
		w.watch = [3]uint64{a, b, c}
		w.stuckAt = now
	}
	return now.Sub(w.stuckAt)
}

// stuck is how long the state last observed has been seen unchanged.
func (w *waiter) stuck() time.Duration { return time.Since(w.stuckAt) }

// spin reports whether the caller should retry at once rather than sleep.
// A blocking call whose context has already ended does not spin.
func (w *waiter) spin(ctx context.Context) bool {
	if w.spins == 0 && ctx.Err() != nil {
		return false
	}
	w.spins++
	if w.spins&63 != 0 {
		return true
	}
	if w.spins == 64 {
		w.spunAt = time.Now()
	} else if time.Since(w.spunAt) > spinFor {
		return false
	}
	runtime.Gosched()
	return true
}

// sleep runs steps 1-3 of the protocol on word: changed re-checks the ring.
// It returns nil when the caller should retry (woken, spuriously or not, or
// the ring changed), park.ErrTimeout after a backstop interval, or the
// context's error.
func (w *waiter) sleep(ctx context.Context, word *uint32, changed func() bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v := atomic.LoadUint32(word)
	if v&sleepersBit == 0 {
		if !atomic.CompareAndSwapUint32(word, v, v|sleepersBit) {
			return nil
		}
		v |= sleepersBit
	}
	if changed() {
		// Normally the retry succeeds, or fails because another party
		// won the race. A retry that keeps failing while the re-check
		// keeps passing means garbage in shared memory: poll instead of
		// spinning.
		if w.retries++; w.retries < maxRetries {
			return nil
		}
		return park.Wait(ctx, word, v, pollInterval)
	}
	w.retries = 0
	return park.Wait(ctx, word, v, backstop)
}

// block is the waiting part of a blocking call whose first attempt, made
// by the caller, failed with busy (ErrFull or ErrEmpty): it calls wait,
// then try, until try returns anything but busy, which block returns, or
// wait returns an error, which block returns with the zero T. The caller
// makes the first attempt so that a call that need not wait makes it with
// a direct call and builds no closure. wait closes over the call's
// waiter, which lives across all its waits: passed to wait as an argument,
// through a func value, it would be moved to the heap.
func block[T any](busy error, wait func() error, try func() (T, error)) (T, error) {
	for {
		if err := wait(); err != nil {
			var zero T
			return zero, err
		}
		if v, err := try(); err != busy {
			return v, err
		}
	}
}

// sendBatch is the waiting part of SendBatch, after the caller's first
// TrySendBatch sent the first sent messages and found the ring full.
// try(i) is TrySendBatch of the messages from index i on; wait waits on
// w, closing over it (see block). A try that sends nothing is followed by
// a wait; one that sends some ends the wait, and the next wait starts on a
// fresh w. It returns how many messages were sent in all, with the error
// of the try or wait that stopped it (nil once all are sent).
func sendBatch(w *waiter, sent int, wait func() error, try func(int) (int, error)) (int, error) {
	for k := sent; ; { // k: how many the last try sent
		if k > 0 {
			*w = waiter{}
		} else if err := wait(); err != nil {
			return sent, err
		}
		var err error
		k, err = try(sent)
		sent += k
		if err != ErrFull {
			return sent, err
		}
	}
}

// pid is this process's id, recorded in shared memory as a claimant.
var pid = uint32(os.Getpid())

// maxPid is PID_MAX_LIMIT on 64-bit Linux: every pid is below it.
const maxPid = 1 << 22

// alive reports whether process pid exists and is not a zombie (a process
// that died and has not been reaped still answers kill(2)).
func alive(p uint32) bool {
	if p == 0 || p >= maxPid {
		return false
	}
	if p == pid {
		return true
	}
	if unix.Kill(int(p), 0) == unix.ESRCH {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(int(p)) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold parentheses: take the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		switch stat[i+2] {
		case 'Z', 'X', 'x':
			return false
		}
	}
	return true
}
