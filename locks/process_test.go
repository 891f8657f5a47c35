package locks

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"golang.org/x/sys/unix"
)

// Roles run in re-executed children. Args: segment name, then role-specific
// numbers. Exit 0 on success.
var roles = map[string]proctest.Role{
	"count": func() int { // name, n
		s := openShared(proctest.Args()[0])
		n := proctest.ArgInt(1)
		for i := 0; i < n; i++ {
			s.mu.Lock()
			s.counter++ // plain: the lock is the only guard
			s.mu.Unlock()
		}
		return 0
	},
	"sem": func() int { // name, iterations
		s := openShared(proctest.Args()[0])
		for i := proctest.ArgInt(1); i > 0; i-- {
			if err := s.sem.Acquire(context.Background()); err != nil {
				proctest.Fail("acquire: %v", err)
			}
			in := atomic.AddInt32(&s.inside, 1)
			for {
				m := atomic.LoadInt32(&s.maxIn)
				if in <= m || atomic.CompareAndSwapInt32(&s.maxIn, m, in) {
					break
				}
			}
			for j := 0; j < 100; j++ {
				_ = atomic.LoadInt32(&s.inside)
			}
			atomic.AddInt32(&s.inside, -1)
			s.sem.Release()
		}
		return 0
	},
	"event-wait": func() int { // name, goroutines
		s := openShared(proctest.Args()[0])
		runGoroutines(proctest.ArgInt(1), func(int) {
			atomic.AddUint32(&s.arrived, 1)
			if err := s.ev.Wait(context.Background()); err != nil {
				proctest.Fail("wait: %v", err)
			}
			atomic.AddUint32(&s.woken, 1)
		})
		return 0
	},
	"barrier": func() int { // name, goroutines
		s := openShared(proctest.Args()[0])
		runGoroutines(proctest.ArgInt(1), func(int) {
			for gen := 0; gen < barrierGens; gen++ {
				i, err := s.bar.Wait(context.Background())
				if err != nil {
					proctest.Fail("barrier gen %d: %v", gen, err)
				}
				if i < 0 || i >= barrierParties {
					proctest.Fail("index %d", i)
				}
				atomic.AddUint32(&s.seen[gen][i], 1)
			}
		})
		return 0
	},
	"barrier-die": func() int { // name: arrive, then wait to be killed
		s := openShared(proctest.Args()[0])
		_, err := s.bar.Wait(context.Background())
		proctest.Fail("barrier returned %v", err)
		return 1
	},
	"cond-wait": func() int { // name
		s := openShared(proctest.Args()[0])
		s.condMu.Lock()
		atomic.AddUint32(&s.arrived, 1)
		s.cond.Wait(&s.condMu)
		atomic.AddUint32(&s.woken, 1)
		s.condMu.Unlock()
		return 0
	},
	"rmutex-hold": func() int { // name: hold rm (twice) until go_ is set
		s := openShared(proctest.Args()[0])
		s.rm.Lock()
		s.rm.Lock()
		atomic.StoreUint32(&s.holding, 1)
		if err := s.go_.Wait(context.Background()); err != nil {
			proctest.Fail("wait: %v", err)
		}
		s.rm.Unlock()
		atomic.StoreUint32(&s.holding, 2) // still held once
		s.rm.Unlock()
		return 0
	},
	"die-holding": func() int { // name, which (0 Mutex, 1 RMutex): lock, then wait to be killed
		s := openShared(proctest.Args()[0])
		if proctest.ArgInt(1) == 0 {
			s.mu.Lock()
		} else {
			s.rm.Lock()
			s.rm.Lock()
		}
		return holdUntilKilled(s)
	},
	"die-covered": func() int { // name, cover (shared, p, list): lock s.mu under that cover, wait to be killed
		s := openShared(proctest.Args()[0])
		switch cover := proctest.Args()[1]; cover {
		case "shared":
			// The process's first Lock: no per-P anchor runs yet.
			s.mu.Lock()
			if s.mu.slot() != pendingSlot {
				proctest.Fail("first Lock covered by slot %d, want the shared pending slot", s.mu.slot())
			}
		case "p":
			// Per-P anchors start on a P's first Lock; retry until ours runs.
			for i := 0; ; i++ {
				s.mu.Lock()
				if s.mu.pCovered() >= 0 {
					break
				}
				s.mu.Unlock()
				if i == 5000 {
					proctest.Fail("no per-P cover after %d tries", i)
				}
				time.Sleep(time.Millisecond)
			}
		case "list":
			// 1+maxPCovers locks fill every pending slot there can be.
			for i := range 1 + maxPCovers {
				s.locks[i].Lock()
			}
			s.mu.Lock()
			if k := s.mu.slot(); k < 0 || k >= pSlot(maxPCovers-1) {
				proctest.Fail("Lock with every pending slot taken covered by slot %d, want a list slot", k)
			}
		default:
			proctest.Fail("unknown cover %q", cover)
		}
		return holdUntilKilled(s)
	},
	"kill-rounds": func() int { // name, seed: lock random subsets forever
		s := openShared(proctest.Args()[0])
		seed, _ := strconv.ParseUint(proctest.Args()[1], 10, 64)
		r := rand.New(rand.NewPCG(seed, 0))
		for {
			var order []int
			for i := 0; i < killLocks; i++ {
				if r.IntN(4) == 0 {
					order = append(order, i)
				}
			}
			for _, i := range order {
				atomic.StoreInt32(&s.op, int32(i))
				s.locks[i].Lock()
				atomic.StoreUint32(&s.held[i], 1)
			}
			atomic.StoreUint32(&s.holding, 1)
			for j := r.IntN(5000); j > 0; j-- { // hold a while
				_ = atomic.LoadUint32(&s.stop)
			}
			for _, i := range order {
				atomic.StoreInt32(&s.op, int32(i))
				atomic.StoreUint32(&s.held[i], 0)
				s.locks[i].Unlock()
			}
			atomic.StoreInt32(&s.op, -1)
		}
	},
	"idle-wait": func() int { // name: wait on ev
		s := openShared(proctest.Args()[0])
		atomic.StoreUint32(&s.arrived, 1)
		if err := s.ev.Wait(context.Background()); err != nil {
			proctest.Fail("wait: %v", err)
		}
		return 0
	},
	"pingpong-event": func() int { // name [cpu]: answer pingA with pingB until stop
		s := openShared(proctest.Args()[0])
		return answerPings(s, func() error {
			if err := s.pingA.Wait(context.Background()); err != nil {
				return err
			}
			s.pingA.Clear()
			return nil
		}, s.pingB.Set)
	},
	"pingpong-sem": func() int { // name [cpu]: answer semA with semB until stop
		s := openShared(proctest.Args()[0])
		return answerPings(s, func() error { return s.semA.Acquire(context.Background()) }, s.semB.Release)
	},
	"contend": func() int { // name [cpu]: increment under mu until stop
		s := openShared(proctest.Args()[0])
		proctest.PinChild(1)
		atomic.StoreUint32(&s.arrived, 1)
		for atomic.LoadUint32(&s.stop) == 0 {
			s.mu.Lock()
			s.counter++
			s.mu.Unlock()
		}
		return 0
	},
	"pipe-echo": func() int { // [cpu]: echo bytes from fd 3 to fd 4 until EOF
		proctest.PinChild(0)
		var buf [1]byte
		for {
			n, err := unix.Read(3, buf[:])
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				proctest.Fail("read: %v", err)
			case n == 0:
				return 0
			}
			for {
				if _, err := unix.Write(4, buf[:]); err != unix.EINTR {
					if err != nil {
						proctest.Fail("write: %v", err)
					}
					break
				}
			}
		}
	},
}

// holdUntilKilled tells the parent, through s.holding, that this child
// holds its locks, then waits to be killed.
func holdUntilKilled(s *shared) int {
	atomic.StoreUint32(&s.holding, 1)
	for {
		time.Sleep(time.Hour) // not select{}: the runtime would call that a deadlock
	}
}

// answerPings is a ping-pong child's loop: pinned to the CPU in its
// argument 1, if any, it answers each of the parent's pings with a pong
// until the parent sets s.stop. ping waits for a ping, pong answers it.
func answerPings(s *shared, ping func() error, pong func()) int {
	proctest.PinChild(1)
	for {
		if err := ping(); err != nil {
			proctest.Fail("ping: %v", err)
		}
		if atomic.LoadUint32(&s.stop) != 0 {
			return 0
		}
		pong()
	}
}

const childTimeout = proctest.Timeout

// startChildren starts n children in role with args.
func startChildren(t *testing.T, n int, role string, args ...string) []*proctest.Child {
	t.Helper()
	cs := make([]*proctest.Child, n)
	for i := range cs {
		cs[i] = proctest.Start(t, role, args, nil)
	}
	return cs
}

// mustAllSucceed waits for each child and fails t unless every one exited 0.
func mustAllSucceed(t *testing.T, cs []*proctest.Child) {
	t.Helper()
	for _, c := range cs {
		c.MustSucceed(t, childTimeout)
	}
}

// startHolding clears s.holding, starts a child in role with args, and
// waits until the child reports, by setting s.holding to 1, that it holds
// its lock or locks.
func startHolding(t *testing.T, s *shared, role string, args ...string) *proctest.Child {
	t.Helper()
	atomic.StoreUint32(&s.holding, 0)
	c := proctest.Start(t, role, args, nil)
	proctest.WaitFor(t, "child holds", func() bool { return atomic.LoadUint32(&s.holding) == 1 })
	return c
}

func TestCounterAcrossProcesses(t *testing.T) {
	name, s := newShared(t)
	const procs, n = 4, 100000
	mustAllSucceed(t, startChildren(t, procs, "count", name, strconv.Itoa(n)))
	if s.counter != procs*n {
		t.Fatalf("counter = %d, want %d", s.counter, procs*n)
	}
}

func TestSemaphoreAdmitsAtMostN(t *testing.T) {
	name, s := newShared(t)
	const n = 2
	s.sem.Init(n)
	mustAllSucceed(t, startChildren(t, 4, "sem", name, "20000"))
	if m := atomic.LoadInt32(&s.maxIn); m > n || m < 1 {
		t.Fatalf("at most %d inside at once, saw %d", n, m)
	}
	if v := s.sem.Value(); v != n {
		t.Fatalf("final count %d, want %d", v, n)
	}
}

func TestEventSetWakesAll(t *testing.T) {
	name, s := newShared(t)
	const procs, gs = 3, 50
	cs := startChildren(t, procs, "event-wait", name, strconv.Itoa(gs))
	proctest.WaitFor(t, "waiters", func() bool { return atomic.LoadUint32(&s.arrived) == procs*gs })
	// Every waiter announced itself and the event is unset, so none can have
	// returned; give them a moment to reach the kernel, then check.
	proctest.WaitFor(t, "sleepers", func() bool { return atomic.LoadUint32(&s.ev.word)&eventWaiters != 0 })
	if w := atomic.LoadUint32(&s.woken); w != 0 {
		t.Fatalf("%d waiters returned before Set", w)
	}
	s.ev.Set()
	mustAllSucceed(t, cs)
	if w := atomic.LoadUint32(&s.woken); w != procs*gs {
		t.Fatalf("woken %d, want %d", w, procs*gs)
	}
}

func TestBarrierAcrossProcesses(t *testing.T) {
	name, s := newShared(t)
	s.bar.Init(barrierParties)
	// Two processes with one waiter each and the parent: three parties.
	cs := startChildren(t, barrierParties-1, "barrier", name, "1")
	for gen := 0; gen < barrierGens; gen++ {
		i, err := s.bar.Wait(context.Background())
		if err != nil {
			t.Fatalf("gen %d: %v", gen, err)
		}
		atomic.AddUint32(&s.seen[gen][i], 1)
	}
	mustAllSucceed(t, cs)
	for gen := range s.seen {
		for i, n := range s.seen[gen] {
			if n != 1 {
				t.Errorf("generation %d: index %d returned %d times", gen, i, n)
			}
		}
	}
	if s.bar.Broken() || s.bar.Waiting() != 0 {
		t.Fatalf("broken %v waiting %d", s.bar.Broken(), s.bar.Waiting())
	}
}

func TestBarrierBreaksWhenWaiterDies(t *testing.T) {
	name, s := newShared(t)
	s.bar.Init(3)
	c := proctest.Start(t, "barrier-die", []string{name}, nil)
	proctest.WaitFor(t, "child at barrier", func() bool { return s.bar.Waiting() == 1 })
	done := make(chan error, 1)
	go func() {
		_, err := s.bar.Wait(context.Background())
		done <- err
	}()
	proctest.WaitFor(t, "parent at barrier", func() bool { return s.bar.Waiting() == 2 })
	c.Kill()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBrokenBarrier) {
			t.Fatalf("Wait after a waiter died: %v, want ErrBrokenBarrier", err)
		}
	case <-time.After(childTimeout):
		t.Fatal("Wait hangs after a waiter died")
	}
	if _, err := s.bar.Wait(context.Background()); !errors.Is(err, ErrBrokenBarrier) {
		t.Fatalf("Wait on a broken barrier: %v", err)
	}
	s.bar.Reset()
	if s.bar.Broken() {
		t.Fatal("broken after Reset")
	}
}

func TestCondSignalOneBroadcastAll(t *testing.T) {
	name, s := newShared(t)
	const n = 3
	cs := startChildren(t, n, "cond-wait", name)
	proctest.WaitFor(t, "waiters", func() bool { return condWaiters(atomic.LoadUint64(&s.cond.state)) == n })
	s.cond.Signal()
	proctest.WaitFor(t, "one wake-up", func() bool { return atomic.LoadUint32(&s.woken) == 1 })
	// The token was taken and no other was granted: no one else can leave.
	st := atomic.LoadUint64(&s.cond.state)
	if condWaiters(st) != n-1 || condTokens(st) != 0 {
		t.Fatalf("after Signal: %d waiting, %d tokens; want %d, 0", condWaiters(st), condTokens(st), n-1)
	}
	s.cond.Broadcast()
	mustAllSucceed(t, cs)
	if w := atomic.LoadUint32(&s.woken); w != n {
		t.Fatalf("woken %d, want %d", w, n)
	}
}

func TestRMutexAcrossProcesses(t *testing.T) {
	name, s := newShared(t)
	c := startHolding(t, s, "rmutex-hold", name)
	if s.rm.TryLock() {
		t.Fatal("TryLock succeeded while another process holds the RMutex")
	}
	s.go_.Set()
	c.MustSucceed(t, childTimeout)
	if !s.rm.TryLock() {
		t.Fatal("TryLock failed after the other process released")
	}
	s.rm.Unlock()
}

func TestOwnerDeadMutex(t *testing.T)  { testOwnerDead(t, 0) }
func TestOwnerDeadRMutex(t *testing.T) { testOwnerDead(t, 1) }

func testOwnerDead(t *testing.T, which int) {
	name, s := newShared(t)
	// The lock the die-holding child takes: s.mu (which 0) or s.rm (1).
	var l interface {
		LockContext(context.Context) error
		Unlock()
		MarkConsistent()
	} = &s.mu
	if which == 1 {
		l = &s.rm
	}

	// Round 1: we sleep in the kernel on the lock when its holder is killed;
	// the kernel's robust-list walk must wake us.
	c := startHolding(t, s, "die-holding", name, strconv.Itoa(which))
	// The RMutex belongs to the goroutine that locks it: repair and unlock
	// there.
	res := make(chan error, 1)
	go func() {
		err := l.LockContext(context.Background())
		if errors.Is(err, ErrOwnerDead) {
			l.MarkConsistent()
			l.Unlock()
		}
		res <- err
	}()
	proctest.WaitFor(t, "waiter sleeps", func() bool {
		select {
		case err := <-res:
			t.Fatalf("lock returned %v while the holder lived", err)
		default:
		}
		return atomic.LoadUint32(&s.mu.word)&waitersBit != 0 || atomic.LoadUint32(&s.rm.m.word)&waitersBit != 0
	})
	c.Kill()
	if err := <-res; !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("lock after holder died: %v, want ErrOwnerDead", err)
	}
	if err := l.LockContext(context.Background()); err != nil {
		t.Fatalf("lock after MarkConsistent: %v", err)
	}
	l.Unlock()

	// Round 2: the holder dies first; without MarkConsistent the lock
	// becomes unrecoverable.
	c = startHolding(t, s, "die-holding", name, strconv.Itoa(which))
	c.Kill()
	if err := l.LockContext(context.Background()); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("lock after holder died: %v, want ErrOwnerDead", err)
	}
	l.Unlock()
	if err := l.LockContext(context.Background()); !errors.Is(err, ErrNotRecoverable) {
		t.Fatalf("lock after unlock without MarkConsistent: %v, want ErrNotRecoverable", err)
	}
}

// TestKernelReleasesEveryCover kills a child holding s.mu under each of the
// three covers (robust_unsafe.go) and checks that the kernel, not the
// liveness backstop, released it: by the time the child is reaped the word
// says owner-died (exit_robust_list runs before the process becomes a
// zombie). In the list case the locks that filled the pending slots are
// checked too.
func TestKernelReleasesEveryCover(t *testing.T) {
	name, s := newShared(t)
	for _, cover := range []string{"shared", "p", "list"} {
		c := startHolding(t, s, "die-covered", name, cover)
		c.Kill()
		held := []*Mutex{&s.mu}
		if cover == "list" {
			for i := range 1 + maxPCovers {
				held = append(held, &s.locks[i])
			}
		}
		for i, m := range held {
			if w := atomic.LoadUint32(&m.word); w&ownerDiedBit == 0 || w&tidMask != 0 {
				t.Fatalf("%s cover: lock %d word %#x after the holder was reaped, want owner-died", cover, i, w)
			}
			if err := m.LockContext(context.Background()); !errors.Is(err, ErrOwnerDead) {
				t.Fatalf("%s cover: lock %d: %v, want ErrOwnerDead", cover, i, err)
			}
			m.MarkConsistent()
			m.Unlock()
		}
	}
}

// TestKillRounds is glibc's robust-mutex torture in spirit: a child locks
// random subsets of 100 mutexes and is killed at a random moment; the parent
// then takes every mutex and must see ErrOwnerDead exactly where the child
// held it.
func TestKillRounds(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SHMKIT_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (rerun with SHMKIT_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 1))
	name, s := newShared(t)
	for round := 0; round < rounds; round++ {
		c := startHolding(t, s, "kill-rounds", name, strconv.FormatUint(seed+uint64(round), 10))
		time.Sleep(time.Duration(r.IntN(20000)) * time.Microsecond)
		c.Kill()
		op := atomic.LoadInt32(&s.op)
		dead := 0
		for i := range s.locks {
			ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
			err := s.locks[i].LockContext(ctx)
			cancel()
			held := atomic.LoadUint32(&s.held[i]) == 1
			switch {
			case err == nil && (!held || int32(i) == op):
			case errors.Is(err, ErrOwnerDead) && (held || int32(i) == op):
				dead++
				s.locks[i].MarkConsistent()
			default:
				t.Fatalf("round %d lock %d (held=%v, op=%d): %v", round, i, held, op, err)
			}
			atomic.StoreUint32(&s.held[i], 0)
			s.locks[i].Unlock()
		}
		t.Logf("round %d: %d locks were held by the killed child", round, dead)
	}
}

// TestIdleWaiterBurnsNoCPU reads a waiting child's CPU time over a second.
func TestIdleWaiterBurnsNoCPU(t *testing.T) {
	name, s := newShared(t)
	c := proctest.Start(t, "idle-wait", []string{name}, nil)
	proctest.WaitFor(t, "child waits", func() bool {
		return atomic.LoadUint32(&s.arrived) == 1 && atomic.LoadUint32(&s.ev.word)&eventWaiters != 0
	})
	before := cpuTicks(t, c.Pid())
	time.Sleep(time.Second)
	after := cpuTicks(t, c.Pid())
	s.ev.Set()
	c.MustSucceed(t, childTimeout)
	// 100 ticks per second of CPU; a spinning waiter would use ~100.
	if d := after - before; d > 5 {
		t.Fatalf("idle waiter used %d clock ticks of CPU in one second", d)
	}
}

func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which is in parentheses): utime is
	// field 14, stime 15 (1-based) of the whole line.
	i := len(b) - 1
	for i > 0 && b[i] != ')' {
		i--
	}
	var fields []string
	start := -1
	for j := i + 2; j < len(b); j++ {
		if b[j] == ' ' || b[j] == '\n' {
			if start >= 0 {
				fields = append(fields, string(b[start:j]))
				start = -1
			}
		} else if start < 0 {
			start = j
		}
	}
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return utime + stime
}
