package ring

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/locks"
	"golang.org/x/sys/unix"
)

// Waiting on several rings at once.
//
// Select is the sleep protocol of wait.go with one sleeper standing on
// several words. Each case names a 32-bit futex word and the bit that
// announces a sleeper on it:
//
//	RecvReady(r)   r's notEmpty (offset 384 of the ring), bit 0
//	SendReady(r)   r's notFull (offset 388), bit 0
//	EventSet(e)    the Event's word, bit 1 ("a waiter may sleep"); bit 0 is
//	               the event itself (docs/layout-locks.md)
//
// and a readiness check, the same fresh-load re-check a single Recv or Send
// makes before it sleeps (SPSC: tail != head, or room; MPMC: the slot at
// head does not wait for a producer, or the one at tail for a consumer;
// Event: bit 0 set). A ring counts as ready when an attempt would not wait:
// a message or room is there, the ring is closed, or its state moved while
// Select looked (then the attempt may find nothing; see Select).
//
// One round of a Select that found nothing ready, in order, every step a
// sequentially consistent atomic:
//
//  1. Announce on every distinct word: v := load(word); if the bit is
//     clear, CAS(word, v, v|bit), and v |= bit. A failed CAS (the word
//     changed) ends the round: start again at 2.
//  2. Re-check every case with fresh loads; return the first ready one.
//  3. futex_waitv on all the words, each with the value v from 1, until a
//     wake-up, a value mismatch (EAGAIN), the context's end or the
//     backstop; then go back to 1.
//
// No wake-up is lost, ring by ring, by the argument of wait.go: a
// publisher publishes, then loads the word (step 4 there). If that load
// comes after our step 1 in the total order of sequentially consistent
// operations, it sees the bit and CASes the word away from v, then issues
// FUTEX_WAKE; futex_waitv compares each word with its value under that
// word's futex-bucket lock while queueing on it, the atomicity FUTEX_WAIT
// has, and before it sleeps it looks whether any of its queued words was
// woken meanwhile. So it either fails with EAGAIN or is woken. If the
// publisher's load comes before our step 1, the publication precedes our
// re-check, which sees it. The rings are independent: the argument holds
// for each word separately, and one sleeper on all of them is woken by the
// first. For an Event, Set swaps the word to 1 (clearing bit 1) and wakes
// if bit 1 was set: the same shape, with Set's swap as both publication
// and load. select_model_test.go checks this over every interleaving of a
// model with two rings, or a ring and an event, and shows that a Select
// that skips the re-check, announces on one word only, or waits with a
// value read after the re-check is caught.
//
// Without futex_waitv (Linux before 5.16), or with more distinct words
// than a futex_waitv call takes (128), Select announces on the first
// case's word only and sleeps on it (internal/park, so it shares a thread
// with other waiters of that word), bounded by a poll interval that grows
// from pollMin to pollMax; each return re-checks every case. A publication
// on the first case wakes it at once; one on another case is seen within
// pollMax.
//
// Cancellation wakes the sleeper as park.Sleep does: a context.AfterFunc
// wakes the first word, repeatedly, until the sleep has returned (the
// other sleepers on that word see a spurious wake-up and re-check).

const (
	// pollMin and pollMax bound the sleeps of a Select without
	// futex_waitv.
	pollMin = 100 * time.Microsecond
	pollMax = 5 * time.Millisecond

	// maxWaitv is FUTEX_WAITV_MAX, the most words one futex_waitv takes.
	maxWaitv = 128
)

// forcePoll makes Select use the polling fallback even where futex_waitv
// exists; tests set it to cover that path.
var forcePoll atomic.Bool

// Case is one condition Select waits for, made by RecvReady, SendReady or
// EventSet. The zero Case is never ready, like a nil channel in a select
// statement: put one in place of a case to switch it off.
type Case struct {
	w    waitable     // the ring of a RecvReady or SendReady case
	send bool         // SendReady
	ev   *locks.Event // EventSet
}

// Selectable is implemented by what Select can watch: *SPSC, *MPMC,
// *Conn, *Queue[T], *JoinableQueue[T] and *SimpleQueue[T]. Its method is
// unexported: other types cannot take part in the wait protocol.
type Selectable interface {
	// waitSide returns the ring a receiver (send false) or a sender
	// (send true) waits on, or nil if that side does not exist.
	waitSide(send bool) waitable
}

// waitable is one ring, as Select sees it: *SPSC and *MPMC.
type waitable interface {
	// waitWord returns the futex word a receiver (sender) sleeps on.
	waitWord(send bool) *uint32
	// waitReady is the receiver's (sender's) re-check before sleeping:
	// false only if an attempt would wait.
	waitReady(send bool) bool
	// waitObserve records the state a receiver (sender) waits on in w.
	waitObserve(send bool, w *waiter)
	// waitStalled runs after a backstop interval: the liveness checks
	// and recovery of Recv (Send), with their errors.
	waitStalled(send bool, w *waiter) error
}

// RecvReady is the case of s having a message to receive, or being closed
// and drained (a receive then returns ErrClosed, or io.EOF from a Conn).
// It panics on a send-only Conn.
func RecvReady(s Selectable) Case {
	w := s.waitSide(false)
	if w == nil {
		panic("ring: RecvReady on a send-only Conn")
	}
	return Case{w: w}
}

// SendReady is the case of s having room for a message, or being closed
// (a send then returns ErrClosed, or io.ErrClosedPipe from a Conn). Room
// is one slot: a Conn message longer than a slot may still wait for more.
// It panics on a receive-only Conn.
func SendReady(s Selectable) Case {
	w := s.waitSide(true)
	if w == nil {
		panic("ring: SendReady on a receive-only Conn")
	}
	return Case{w: w, send: true}
}

// EventSet is the case of e being set. It panics if e is nil.
func EventSet(e *locks.Event) Case {
	if e == nil {
		panic("ring: EventSet of a nil Event")
	}
	return Case{ev: e}
}

// Select waits until one of cases is ready, or ctx ends, and returns the
// index of a ready case: the lowest index among those ready when it looks,
// so earlier cases have priority (rotate the cases between calls if every
// one must get its turn under load). It returns -1 and ctx.Err() if ctx
// ends first; a case ready at the call wins over an ended context. With
// no cases (or only zero ones) it waits for ctx.
//
// Select does not receive or send: it reports readiness, and the caller
// then acts — TryRecv or TrySend on a ring, TryGet or TryPut on a queue,
// Recv or Send on a Conn, Clear on an Event if that is the protocol. By
// then another consumer (producer) of the same MPMC ring or queue, in
// any process, may have taken the message (the slot), and a readiness
// seen while a ring's state moved may have been nothing: the Try call
// then returns ErrEmpty (ErrFull), and the caller should Select again.
// Loop:
//
//	for {
//		i, err := ring.Select(ctx, ring.RecvReady(jobs), ring.RecvReady(ctl))
//		if err != nil {
//			return err
//		}
//		n, err := rings[i].TryRecv(buf)
//		if err == ring.ErrEmpty {
//			continue // taken by another consumer
//		}
//		...
//	}
//
// A case is ready when its ring is closed (and, for RecvReady, drained),
// so a closed ring stays ready: replace its case with a zero Case once
// the caller has seen ErrClosed. A Select that waits a quarter second
// without any change also makes the dead-peer checks of Recv and Send:
// it returns the case's index with ErrProducerDied (ErrConsumerDied) when
// the process on the other side of an SPSC ring is gone, and it recovers
// an MPMC slot held by a dead process (which then reads as ready).
//
// Every ring, queue and Conn in cases must stay mapped until Select
// returns: Close a Conn, or Detach a queue, only after.
//
// Select spins for a few tens of microseconds, like Recv, then sleeps on
// all the cases' futex words at once with futex_waitv (Linux 5.16 and
// later). Each Select asleep in the kernel holds an OS thread. Without
// futex_waitv it sleeps on the first case's word and polls the others
// every few milliseconds at most (see select.go): a case other than the
// first may then be seen up to 5 ms late, and an idle Select wakes up to
// a few hundred times a second.
func Select(ctx context.Context, cases ...Case) (int, error) {
	if i := firstReady(cases); i >= 0 {
		return i, nil
	}
	return selectSlow(ctx, cases)
}

// firstReady returns the index of the first ready case, or -1.
func firstReady(cases []Case) int {
	for i := range cases {
		if cases[i].ready() {
			return i
		}
	}
	return -1
}

func (c *Case) ready() bool {
	switch {
	case c.w != nil:
		return c.w.waitReady(c.send)
	case c.ev != nil:
		return c.ev.IsSet()
	}
	return false
}

// word returns the futex word of the case and the bit that announces a
// sleeper on it, or nil for a zero Case.
func (c *Case) word() (*uint32, uint32) {
	switch {
	case c.w != nil:
		return c.w.waitWord(c.send), sleepersBit
	case c.ev != nil:
		return c.ev.WaitWord()
	}
	return nil, 0
}

// selectSlow spins, then runs rounds of announce, re-check and sleep.
func selectSlow(ctx context.Context, cases []Case) (int, error) {
	var spin waiter
	for spin.spin(ctx) {
		if i := firstReady(cases); i >= 0 {
			return i, nil
		}
	}
	var s selector
	s.init(cases)
	defer runtime.KeepAlive(cases) // the words live in the cases' memory
	for {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		if len(s.words) == 0 {
			<-ctx.Done()
			continue
		}
		// Step 1: announce.
		changed := false
		n := len(s.words)
		if !s.waitv {
			n = 1
		}
		for k := range n {
			v, ok := announce(s.words[k], s.bits[k])
			if !ok {
				changed = true
				break
			}
			s.vec[k].Val = uint64(v)
		}
		// Step 2: re-check.
		if i := firstReady(cases); i >= 0 {
			return i, nil
		}
		if changed {
			// Normally another party moved the word; a word that
			// keeps changing without any case getting ready is
			// garbage: poll instead of spinning.
			if s.retries++; s.retries < maxRetries {
				continue
			}
			s.retries = 0
			time.Sleep(pollInterval)
			continue
		}
		s.retries = 0
		// Step 3: sleep.
		var err error
		if s.waitv {
			err = sleepv(ctx, s.vec, s.words[0], backstop)
		} else {
			err = park.Wait(ctx, s.words[0], uint32(s.vec[0].Val), s.poll)
			s.poll = min(2*s.poll, pollMax)
		}
		switch err {
		case nil:
			continue
		case park.ErrTimeout:
			if i, err := s.stalled(cases); err != nil {
				return i, err
			}
			continue
		}
		return -1, err
	}
}

// selector is the state of one Select between its rounds.
type selector struct {
	words   []*uint32   // the distinct futex words of the cases
	bits    []uint32    // the bit announcing a sleeper on each
	vec     []sys.Waitv // the words for futex_waitv, with announced values
	live    []waiter    // per case: how long its ring has not moved
	waitv   bool        // sleep with futex_waitv, else poll
	poll    time.Duration
	checked time.Time // the last liveness check
	retries int       // announcements in a row that lost a race

	// Room for a few cases without allocating.
	liveBuf [4]waiter
	wordBuf [4]*uint32
	bitBuf  [4]uint32
	vecBuf  [4]sys.Waitv
}

func (s *selector) init(cases []Case) {
	if len(cases) <= len(s.liveBuf) {
		s.live = s.liveBuf[:len(cases)]
	} else {
		s.live = make([]waiter, len(cases))
	}
	s.words, s.bits, s.vec = s.wordBuf[:0], s.bitBuf[:0], s.vecBuf[:0]
	for i := range cases {
		c := &cases[i]
		if c.w != nil {
			c.w.waitObserve(c.send, &s.live[i])
		}
		word, bit := c.word()
		if word == nil || containsWord(s.words, word) {
			continue
		}
		s.words = append(s.words, word)
		s.bits = append(s.bits, bit)
		s.vec = append(s.vec, sys.Waitv{Uaddr: sys.WaitvAddr(word), Flags: sys.Futex2Size32})
	}
	s.waitv = len(s.words) <= maxWaitv && !forcePoll.Load() && sys.HaveWaitv()
	s.poll = pollMin
	s.checked = time.Now()
}

func containsWord(words []*uint32, w *uint32) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// stalled runs the liveness checks of every ring case, at most once per
// backstop interval: the index and error of a dead peer, or -1 and nil.
func (s *selector) stalled(cases []Case) (int, error) {
	if time.Since(s.checked) < backstop {
		return -1, nil
	}
	s.checked = time.Now()
	for i := range cases {
		c := &cases[i]
		if c.w == nil {
			continue
		}
		if err := c.w.waitStalled(c.send, &s.live[i]); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// announce is the sleeper's step 1 on word: it sets bit (if clear) and
// returns the word's value with the bit set. ok is false if the CAS lost
// a race: the word changed, so re-check before anything else.
func announce(word *uint32, bit uint32) (v uint32, ok bool) {
	v = atomic.LoadUint32(word)
	if v&bit != 0 {
		return v, true
	}
	if atomic.CompareAndSwapUint32(word, v, v|bit) {
		return v | bit, true
	}
	return 0, false
}

// sleepv is one futex_waitv on vec (the words with their announced
// values), bounded by ctx and timeout, with an absolute deadline on
// CLOCK_MONOTONIC. It returns nil for any wake-up (spurious ones, EAGAIN
// and EINTR included: re-check), ctx.Err() when the context ended the
// sleep, and park.ErrTimeout when the timeout did.
//
// Cancellation: a context.AfterFunc wakes every sleeper on first (one of
// the words; the kernel cannot wake one chosen thread) and repeats until
// this sleep has returned, which closes the window where the cancel fires
// between the check and the system call.
func sleepv(ctx context.Context, vec []sys.Waitv, first *uint32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var stop func() bool
	var returned atomic.Bool
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		stop = context.AfterFunc(ctx, func() {
			for wait := 20 * time.Microsecond; !returned.Load(); wait = min(2*wait, 10*time.Millisecond) {
				park.Wake(first, park.WakeAll)
				time.Sleep(wait)
			}
		})
	}
	rem := time.Until(deadline)
	var now unix.Timespec
	if rem <= 0 || unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		if stop != nil {
			stop()
		}
		return expired(ctx)
	}
	abs := unix.NsecToTimespec(now.Nano() + int64(rem))
	_, err := sys.FutexWaitv(vec, &abs, unix.CLOCK_MONOTONIC)
	returned.Store(true)
	if stop != nil {
		stop()
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err == unix.ETIMEDOUT || !time.Now().Before(deadline) {
		return expired(ctx)
	}
	return nil
}

// expired tells a context deadline (which the context itself may not have
// noticed yet) from the caller's own timeout.
func expired(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return park.ErrTimeout
}

// The ring types as Selectable and waitable.

func (r *SPSC) waitSide(bool) waitable { return r }

func (r *SPSC) waitWord(send bool) *uint32 {
	if send {
		return &r.c.notFull
	}
	return &r.c.notEmpty
}

func (r *SPSC) waitReady(send bool) bool {
	if send {
		return r.sendReady()
	}
	return r.recvReady()
}

func (r *SPSC) waitObserve(_ bool, w *waiter) { r.observe(w) }

func (r *SPSC) waitStalled(send bool, w *waiter) error {
	if send {
		return r.sendStalled(w)
	}
	return r.recvStalled(w)
}

func (r *MPMC) waitSide(bool) waitable { return r }

func (r *MPMC) waitWord(send bool) *uint32 {
	if send {
		return &r.c.notFull
	}
	return &r.c.notEmpty
}

func (r *MPMC) waitReady(send bool) bool {
	if send {
		return r.sendReady()
	}
	return r.recvReady()
}

func (r *MPMC) waitObserve(send bool, w *waiter) {
	if send {
		r.observeSend(w)
	} else {
		r.observeRecv(w)
	}
}

func (r *MPMC) waitStalled(send bool, w *waiter) error {
	if send {
		r.sendStalled(w)
	} else {
		r.recvStalled(w)
	}
	return nil
}

func (c *Conn) waitSide(send bool) waitable {
	r := c.recv
	if send {
		r = c.send
	}
	if r == nil {
		return nil
	}
	return r
}

func (q *Queue[T]) waitSide(bool) waitable { return q.r }

func (s *SimpleQueue[T]) waitSide(bool) waitable { return s.q.r }
