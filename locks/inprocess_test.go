package locks

import (
	"bufio"
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

// Heap-backed memory: the race detector sees these accesses, so running the
// protocols here under -race checks them.

func TestMutexHeapRace(t *testing.T) {
	var m Mutex
	// Every third Lock is a LockContext, the others a TryLock that falls
	// back to Lock.
	hammer(t, 4, 5000, func(i int) error {
		if i%3 == 0 {
			return m.LockContext(context.Background())
		}
		if !m.TryLock() {
			m.Lock()
		}
		return nil
	}, m.Unlock)
	if n := heldCount(); n != 0 {
		t.Fatalf("%d mutexes left on the robust list", n)
	}
}

// TestSegmentRace guards plain heap variables with primitives placed in a
// mapped segment, which the race detector cannot see: only the
// internal/race annotations tell it about the synchronization, and without
// them this test reports data races under -race. (A Mutex also synchronizes
// through its process-local robust list, so the Semaphore and Event cases
// are the ones that prove the annotations.)
func TestSegmentRace(t *testing.T) {
	_, s := newShared(t)
	s.sem.Init(1)
	hammer(t, 2, 2000, func(int) error { return s.sem.Acquire(context.Background()) }, s.sem.Release)
	setPublishes(t, &s.ev, 1)
}

func TestPrimitivesHeapRace(t *testing.T) {
	t.Run("Semaphore", func(t *testing.T) {
		var s Semaphore
		s.Init(1)
		hammer(t, 4, 2000, func(int) error { return s.Acquire(context.Background()) }, s.Release)
	})
	t.Run("Event", func(t *testing.T) {
		var e Event
		setPublishes(t, &e, 4)
	})
	t.Run("Cond", func(t *testing.T) {
		var m Mutex
		var c Cond
		queue := 0 // items produced and not yet consumed, guarded by m
		const n = 2000
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/2; i++ {
					m.Lock()
					for queue == 0 {
						c.Wait(&m)
					}
					queue--
					m.Unlock()
				}
			}()
		}
		for i := 0; i < n; i++ {
			m.Lock()
			queue++
			m.Unlock()
			c.Signal()
		}
		wg.Wait()
		if queue != 0 {
			t.Fatal(queue)
		}
	})
	t.Run("Barrier", func(t *testing.T) {
		var b Barrier
		const parties, gens = 4, 200
		b.Init(parties)
		var seen [gens][parties]atomic.Int32
		plain := make([]int, parties) // each written by its goroutine, read by all after the barrier
		runGoroutines(parties, func(g int) {
			for gen := 0; gen < gens; gen++ {
				plain[g] = gen
				i, err := b.Wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				seen[gen][i].Add(1)
				for k := range plain {
					if plain[k] != gen {
						t.Errorf("gen %d: party %d at %d", gen, k, plain[k])
					}
				}
				if _, err := b.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
		for gen := range seen {
			for i := range seen[gen] {
				if seen[gen][i].Load() != 1 {
					t.Fatalf("gen %d index %d seen %d times", gen, i, seen[gen][i].Load())
				}
			}
		}
	})
	t.Run("RMutex", func(t *testing.T) {
		var r RMutex
		// Each round re-enters: two Locks, two Unlocks.
		hammer(t, 4, 1000, func(int) error {
			r.Lock()
			r.Lock()
			return nil
		}, func() {
			r.Unlock()
			r.Unlock()
		})
	})
}

// runGoroutines runs body in n goroutines, passing each its index, and
// returns when all have returned.
func runGoroutines(n int, body func(g int)) {
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() { body(g) })
	}
	wg.Wait()
}

// hammer runs goroutines goroutines that each, iters times, take a lock with
// acquire (i is the iteration), increment a plain counter that only the lock
// guards, and release it. It fails t if acquire returns an error (which ends
// that goroutine) or if an increment was lost; under -race, the detector
// also reports the increments as a data race unless the lock orders them.
func hammer(t *testing.T, goroutines, iters int, acquire func(i int) error, release func()) {
	t.Helper()
	plain := 0 // guarded only by the lock under test
	runGoroutines(goroutines, func(int) {
		for i := range iters {
			if err := acquire(i); err != nil {
				t.Error(err)
				return
			}
			plain++
			release()
		}
	})
	if want := goroutines * iters; plain != want {
		t.Fatalf("plain = %d, want %d", plain, want)
	}
}

// setPublishes starts waiters goroutines that Wait on e and then read a
// plain variable which is written before Set: each must return without an
// error and read the write.
func setPublishes(t *testing.T, e *Event, waiters int) {
	t.Helper()
	data := 0
	done := make(chan int, waiters)
	for range waiters {
		go func() {
			if err := e.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			done <- data
		}()
	}
	data = 42 // published before Set
	e.Set()
	for range waiters {
		if v := <-done; v != 42 {
			t.Fatalf("a waiter read %d after Set, want 42", v)
		}
	}
}

func TestRMutexOwnership(t *testing.T) {
	var r RMutex
	r.Lock()
	if !r.TryLock() {
		t.Fatal("owner cannot re-enter")
	}
	other := make(chan bool)
	go func() { other <- r.TryLock() }()
	if <-other {
		t.Fatal("another goroutine locked a held RMutex")
	}
	panicked := make(chan any)
	go func() {
		defer func() { panicked <- recover() }()
		r.Unlock()
	}()
	if p := <-panicked; p == nil || !strings.HasPrefix(p.(string), "locks: ") {
		t.Fatalf("unlock by non-owner: panic %v", p)
	}
	r.Unlock()
	r.Unlock()
	go func() { other <- r.TryLock(); r.Unlock() }()
	if !<-other {
		t.Fatal("free RMutex not lockable by another goroutine")
	}
}

func TestMisusePanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			p := recover()
			s, _ := p.(string)
			if !strings.HasPrefix(s, "locks: ") {
				t.Errorf("%s: panic %v, want a locks: message", name, p)
			}
		}()
		f()
	}
	mustPanic("unlock of unlocked Mutex", func() { var m Mutex; m.Unlock() })
	mustPanic("MarkConsistent of free Mutex", func() { var m Mutex; m.MarkConsistent() })
	mustPanic("unlock of unlocked RMutex", func() { var r RMutex; r.Unlock() })
	mustPanic("negative Semaphore", func() { var s Semaphore; s.Init(-1) })
	mustPanic("zero-party Barrier", func() { var b Barrier; b.Init(0) })
	mustPanic("Mutex held by another process", func() {
		m := Mutex{word: 1} // TID 1 is init, never us
		m.Unlock()
	})
}

func TestBoundedSemaphoreNeverExceedsBound(t *testing.T) {
	var b BoundedSemaphore
	b.Init(5)
	for i := 0; i < 2; i++ {
		if !b.TryAcquire() {
			t.Fatal("TryAcquire")
		}
	}
	var ok, over atomic.Int32
	runGoroutines(50, func(int) {
		switch err := b.Release(); {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, ErrOverRelease):
			over.Add(1)
		default:
			t.Error(err)
		}
	})
	if ok.Load() != 2 || over.Load() != 48 || b.Value() != 5 {
		t.Fatalf("%d releases succeeded, %d refused, value %d; want 2, 48, 5", ok.Load(), over.Load(), b.Value())
	}
}

// TestCancelWakesSleeper: a context ending while a waiter sleeps in the
// kernel returns ctx.Err() (no timing is asserted; a hang fails).
func TestCancelWakesSleeper(t *testing.T) {
	var m Mutex
	var e Event
	var s Semaphore
	var c Cond
	var cm Mutex
	var b Barrier
	b.Init(2)
	m.Lock()
	defer m.Unlock()
	waits := map[string]func(context.Context) error{
		"Mutex":     m.LockContext,
		"Event":     e.Wait,
		"Semaphore": s.Acquire,
		"Cond": func(ctx context.Context) error {
			cm.Lock()
			defer cm.Unlock()
			return c.WaitContext(ctx, &cm)
		},
		"Barrier": func(ctx context.Context) error { _, err := b.Wait(ctx); return err },
	}
	for name, wait := range waits {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			res := make(chan error, 1)
			go func() { res <- wait(ctx) }()
			time.Sleep(20 * time.Millisecond) // let it reach the kernel; not a timing assertion
			cancel()
			select {
			case err := <-res:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("got %v, want context.Canceled", err)
				}
			case <-time.After(childTimeout):
				t.Fatal("cancellation did not wake the waiter")
			}
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			if name == "Barrier" {
				b.Reset()
			}
			if err := wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("with a deadline: %v, want DeadlineExceeded", err)
			}
			if name == "Barrier" {
				b.Reset()
			}
		})
	}
}

func threads(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads: line")
	return 0
}

// TestThreadEconomy blocks 10,000 goroutines on one shared Mutex, then on
// one Event, and checks the process did not grow a thread per waiter.
func TestThreadEconomy(t *testing.T) {
	const n = 10000
	_, s := newShared(t)
	for _, kind := range []string{"Mutex", "RMutex", "Event"} {
		t.Run(kind, func(t *testing.T) {
			var started, done atomic.Int32
			var wg sync.WaitGroup
			switch kind {
			case "Mutex":
				s.mu.Lock()
			case "RMutex":
				s.rm.Lock()
			}
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					started.Add(1)
					switch kind {
					case "Mutex":
						s.mu.Lock()
						s.counter++
						s.mu.Unlock()
					case "RMutex":
						s.rm.Lock()
						s.counter++
						s.rm.Unlock()
					default:
						if err := s.ev.Wait(context.Background()); err != nil {
							t.Error(err)
						}
					}
					done.Add(1)
				}()
			}
			proctest.WaitFor(t, "goroutines blocked", func() bool { return started.Load() == n })
			time.Sleep(100 * time.Millisecond) // let them settle into waiting
			th := threads(t)
			switch kind {
			case "Mutex":
				s.mu.Unlock()
			case "RMutex":
				s.rm.Unlock()
			default:
				s.ev.Set()
			}
			wg.Wait()
			if th >= 64 {
				t.Fatalf("%d threads with %d goroutines waiting on one %s", th, n, kind)
			}
			t.Logf("%d threads while %d goroutines waited", th, n)
		})
	}
}

// TestSegmentReopen checks that a lock works through two mappings of one
// segment in one process (distinct addresses, one futex).
func TestSegmentReopen(t *testing.T) {
	name, s1 := newShared(t)
	seg, err := shm.Open(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	s2 := openSharedSeg(t, seg)
	s1.mu.Lock()
	if s2.mu.TryLock() {
		t.Fatal("second mapping locked a held mutex")
	}
	res := make(chan error)
	go func() { res <- s2.mu.LockContext(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	s1.mu.Unlock()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	s2.mu.Unlock()
	_ = proctest.Prefix()
}

// TestRobustListRegistered: the kernel accepted the anchor's robust list
// (set_robust_list exists since Linux 2.6.17; a seccomp filter could refuse
// it, which would leave only the liveness backstop).
func TestRobustListRegistered(t *testing.T) {
	if err := robustErr(); err != nil {
		t.Fatalf("set_robust_list: %v", err)
	}
	if anchorTid() == 0 {
		t.Fatal("no anchor thread id")
	}
}

func TestHeld(t *testing.T) {
	var m Mutex
	if m.Held() {
		t.Fatal("free mutex reported held")
	}
	m.Lock()
	if !m.Held() {
		t.Fatal("locked mutex not reported held")
	}
	m.Unlock()
	other := Mutex{word: 1}
	if other.Held() {
		t.Fatal("mutex of another process reported held by us")
	}
}

// TestEventWaitWord runs the protocol WaitWord documents from outside the
// package, as ring.Select does: announce with the bit, re-check, sleep on
// the word; Set must wake the sleeper, and a set Event must be seen by the
// re-check.
func TestEventWaitWord(t *testing.T) {
	var e Event
	word, bit := e.WaitWord()
	if word == nil || bit == 0 || bit&eventSet != 0 {
		t.Fatalf("WaitWord = %p, %#x", word, bit)
	}
	woke := make(chan error, 1)
	go func() {
		for {
			v := atomic.LoadUint32(word)
			if v&bit == 0 && !atomic.CompareAndSwapUint32(word, v, v|bit) {
				continue
			}
			v |= bit
			if e.IsSet() { // the re-check
				woke <- nil
				return
			}
			if err := park.Wait(context.Background(), word, v, 10*time.Second); err != nil {
				woke <- err
				return
			}
		}
	}()
	for atomic.LoadUint32(word)&bit == 0 {
		time.Sleep(time.Millisecond) // until the sleeper announced itself
	}
	e.Set()
	if err := <-woke; err != nil {
		t.Fatalf("sleeper on the word: %v", err)
	}
	if atomic.LoadUint32(word)&eventSet == 0 {
		t.Fatal("Set did not set the word's bit 0")
	}
	e.Clear()
	if atomic.LoadUint32(word)&eventSet != 0 {
		t.Fatal("Clear did not clear bit 0")
	}
}

// TestPCovers runs the per-P covers (robust_unsafe.go) hard in one process:
// goroutines on every P lock and unlock a small set of mutexes, some handed
// to another goroutine to unlock. Every lock must read as held by this
// process while held, the per-P anchors' TIDs must count as ours and as
// alive for the liveness check, and no cover may be left behind.
func TestPCovers(t *testing.T) {
	var ms [16]Mutex
	var byP atomic.Int64
	handoff := make(chan *Mutex)
	var unlockers sync.WaitGroup
	unlockers.Go(func() {
		for m := range handoff {
			m.Unlock()
		}
	})
	runGoroutines(2*runtime.GOMAXPROCS(0), func(g int) {
		for i := range 3000 {
			m := &ms[(g*5+i)%len(ms)]
			m.Lock()
			if m.pCovered() >= 0 {
				byP.Add(1)
			}
			if !m.Held() {
				t.Error("a held Mutex does not read as held by this process")
			}
			if i%16 == 0 {
				handoff <- m // unlocked by another goroutine, maybe on another P
			} else {
				m.Unlock()
			}
		}
	})
	close(handoff)
	unlockers.Wait()
	if n := heldCount(); n != 0 {
		t.Fatalf("%d covers left after every Mutex was unlocked", n)
	}
	if byP.Load() == 0 {
		t.Fatal("no Lock was covered by a per-P slot")
	}
	anchors := 0
	for i := range pCovers {
		tid := atomic.LoadUint32(&pCovers[i].tid)
		if tid == 0 {
			continue
		}
		anchors++
		if !ownTid(tid) || !alive(tid) {
			t.Fatalf("per-P anchor %d (tid %d): ours %v, alive %v", i, tid, ownTid(tid), alive(tid))
		}
	}
	t.Logf("%d of %d locks covered by a per-P slot; %d per-P anchors", byP.Load(), 2*runtime.GOMAXPROCS(0)*3000, anchors)
}
