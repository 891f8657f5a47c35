package manager_test

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shmkit/shmkit/manager"
)

// testSeed returns the seed of a random schedule: SHMKIT_TEST_SEED if
// set, else a fresh one. The test logs it so a failure can be replayed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHMKIT_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SHMKIT_TEST_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with SHMKIT_TEST_SEED=%d)", seed, seed)
	return seed
}

// randomCtx returns a context that ends after a few random microseconds,
// by deadline or by cancellation: Gets that give up in every phase.
func randomCtx(parent context.Context, rng *rand.Rand) (context.Context, context.CancelFunc) {
	d := time.Duration(rng.IntN(3000)) * time.Microsecond
	if rng.IntN(2) == 0 {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancel(parent)
	t := time.AfterFunc(d, cancel)
	return ctx, func() { t.Stop(); cancel() }
}

// Gets that give up while BLPOP is in flight lose no item: every item put
// is delivered exactly once.
func TestRedisQueueCancelledGets(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	seed := testSeed(t)
	m := openRedis(t, url, nil)
	q, err := manager.OpenQueue[int](ctx, m, "q")
	must(t, err)
	const items, quitters = 300, 4
	var (
		mu        sync.Mutex
		delivered = make([]int, items)
		total     int
		all       = make(chan struct{})
	)
	record := func(v int) {
		mu.Lock()
		defer mu.Unlock()
		if v < 0 || v >= items {
			t.Errorf("Get returned %d, never put", v)
			return
		}
		delivered[v]++
		if total++; total == items {
			close(all)
		}
	}
	stop, stopAll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	produced := make(chan struct{})
	go func() { // the producer, slower than the Gets, so that they wait
		defer close(produced)
		rng := rand.New(rand.NewPCG(seed, 0))
		for i := range items {
			if err := q.Put(ctx, i); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}()
	for g := range quitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)+1))
			for stop.Err() == nil {
				gctx, cancel := randomCtx(stop, rng)
				v, err := q.Get(gctx)
				cancel()
				switch {
				case err == nil:
					record(v)
				case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
					t.Error(err)
					return
				}
				// Pause, so that at times nobody waits while a BLPOP is
				// in flight: the element it takes must go back.
				time.Sleep(time.Duration(rng.IntN(6000)) * time.Microsecond)
			}
		}()
	}
	wg.Add(1)
	go func() { // a patient consumer, once all is put
		defer wg.Done()
		<-produced
		for {
			v, err := q.Get(stop)
			if err != nil {
				return
			}
			record(v)
		}
	}()
	select {
	case <-all:
	case <-time.After(time.Minute):
		mu.Lock()
		t.Errorf("after a minute, %d of %d items delivered", total, items)
		mu.Unlock()
	}
	stopAll()
	wg.Wait()
	must(t, m.Close()) // waits for the BLPOPs still in flight
	for i, n := range delivered {
		if n != 1 {
			t.Errorf("item %d delivered %d times", i, n)
		}
	}
	m2 := open(t, url)
	defer m2.Close()
	q2, err := manager.OpenQueue[int](ctx, m2, "q")
	must(t, err)
	if n, err := q2.Len(ctx); n != 0 || err != nil {
		t.Fatalf("%d items left in the queue, %v", n, err)
	}
}

// Acquires that give up lose no unit.
func TestRedisSemaphoreCancelledAcquires(t *testing.T) {
	url, name := redisManager(t)
	ctx := ctxT(t)
	seed := testSeed(t)
	rc := rawRedis(t)
	m := openRedis(t, url, nil)
	const units = 3
	s, err := manager.OpenSemaphore(ctx, m, "s", units)
	must(t, err)
	var (
		wg       sync.WaitGroup
		held     atomic.Int32
		acquired atomic.Int32
	)
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for range 40 {
				gctx, cancel := randomCtx(ctx, rng)
				err := s.Acquire(gctx)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
						t.Error(err)
						return
					}
					continue
				}
				if n := held.Add(1); n > units {
					t.Errorf("%d units held of %d", n, units)
				}
				acquired.Add(1)
				time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
				held.Add(-1)
				if err := s.Release(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	must(t, m.Close())
	t.Logf("%d acquisitions", acquired.Load())
	if n, err := rc.LLen(ctx, "{shmkit:"+name+"}:sem:s").Result(); n != units || err != nil {
		t.Fatalf("%d units free at the end, want %d (%v)", n, units, err)
	}
}

// commandCalls is the number of commands the server has run, but INFO.
func commandCalls(t *testing.T, rc *redis.Client) int64 {
	t.Helper()
	info, err := rc.Info(context.Background(), "commandstats").Result()
	must(t, err)
	var n int64
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		// cmdstat_get:calls=3,usec=...
		line := sc.Text()
		cmd, stats, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(cmd, "cmdstat_") || cmd == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
		c, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			t.Fatalf("INFO commandstats line %q: %v", line, err)
		}
		n += c
	}
	return n
}

// An idle waiter costs the server about a command a second at most: it
// blocks, it does not poll.
func TestRedisIdleWaiters(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	rc := rawRedis(t)
	// Long leases: no renewal or lease check falls in the window.
	m := openRedis(t, url, &manager.Options{LockLease: time.Minute})
	m2, err := manager.Open(ctx, url, &manager.Options{LockLease: time.Minute})
	must(t, err)
	defer m2.Close()
	q, err := manager.OpenQueue[int](ctx, m, "q")
	must(t, err)
	e, err := manager.OpenEvent(ctx, m, "e")
	must(t, err)
	s, err := manager.OpenSemaphore(ctx, m, "s", 0)
	must(t, err)
	l, err := manager.OpenLock(ctx, m, "l")
	must(t, err)
	l2, err := manager.OpenLock(ctx, m2, "l")
	must(t, err)
	must(t, l2.Lock(ctx))

	const window = 2 * time.Second
	for _, w := range []struct {
		name    string
		wait    func(context.Context) error
		wake    func(context.Context) error
		perSec  float64 // commands a second the waiter may issue
		startup int64
	}{
		{"Event.Wait", e.Wait, e.Set, 0, 1},
		{"Semaphore.Acquire", s.Acquire, s.Release, 1, 1},
		{"Queue.Get", func(ctx context.Context) error { _, err := q.Get(ctx); return err },
			func(ctx context.Context) error { return q.Put(ctx, 1) }, 1, 1},
		{"Lock.Lock", l.Lock, l2.Unlock, 1, 1},
	} {
		done := make(chan error, 1)
		go func() { done <- w.wait(ctx) }()
		time.Sleep(200 * time.Millisecond) // settled in its wait
		before := commandCalls(t, rc)
		time.Sleep(window)
		n := commandCalls(t, rc) - before
		// A blocking command spans the window's start or end; allow it.
		limit := int64(w.perSec*window.Seconds()) + w.startup
		t.Logf("%s: %d commands in %v of waiting", w.name, n, window)
		if n > limit {
			t.Errorf("%s: %d commands in %v of idle waiting, want at most %d", w.name, n, window, limit)
		}
		must(t, w.wake(ctx))
		must(t, <-done)
	}
	must(t, l.Unlock(ctx))
}

// Far more waiting goroutines than the client has connections: they share
// one BLPOP per list, and every item reaches exactly one of them.
func TestRedisManyWaiters(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	q, err := manager.OpenQueue[int](ctx, m, "q")
	must(t, err)
	s, err := manager.OpenSemaphore(ctx, m, "s", 0)
	must(t, err)
	const waiters = 2000
	got := make(chan int, waiters)
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v, err := q.Get(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			got <- v
		}()
		go func() {
			defer wg.Done()
			if err := s.Acquire(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	m2 := open(t, url)
	defer m2.Close()
	q2, err := manager.OpenQueue[int](ctx, m2, "q")
	must(t, err)
	s2, err := manager.OpenSemaphore(ctx, m2, "s", 0)
	must(t, err)
	for i := range waiters {
		must(t, q2.Put(ctx, i))
		must(t, s2.Release(ctx))
	}
	wg.Wait()
	close(got)
	seen := make([]bool, waiters)
	for v := range got {
		if seen[v] {
			t.Fatalf("item %d delivered twice", v)
		}
		seen[v] = true
	}
}

// Close wakes the goroutines waiting in the manager with ErrClosed.
func TestRedisCloseWakesWaiters(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := open(t, url)
	defer func() {
		m2 := open(t, url)
		must(t, m2.Destroy(ctx))
	}()
	q, err := manager.OpenQueue[int](ctx, m, "q")
	must(t, err)
	e, err := manager.OpenEvent(ctx, m, "e")
	must(t, err)
	l, err := manager.OpenLock(ctx, m, "l")
	must(t, err)
	m2 := open(t, url)
	defer m2.Close()
	l2, err := manager.OpenLock(ctx, m2, "l")
	must(t, err)
	must(t, l2.Lock(ctx))
	errs := make(chan error, 3)
	go func() { _, err := q.Get(ctx); errs <- err }()
	go func() { errs <- e.Wait(ctx) }()
	go func() { errs <- l.Lock(ctx) }()
	time.Sleep(100 * time.Millisecond)
	must(t, m.Close())
	for range 3 {
		if err := <-errs; !errors.Is(err, manager.ErrClosed) {
			t.Errorf("a wait when its manager closed: %v, want ErrClosed", err)
		}
	}
}
