package manager_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
)

func init() {
	roles["redis-lock-holder"] = redisLockHolder
}

// redisLockHolder takes the Lock "lock" with a lease, sets the Event
// "locked", then either holds the lock until killed or, with "late",
// waits for the Event "go" and expects its Unlock to fail with ErrNotHeld.
func redisLockHolder() int { // url lease [late]
	a := proctest.Args()
	lease, err := time.ParseDuration(a[1])
	if err != nil {
		return childFail(err)
	}
	ctx := context.Background()
	m, err := manager.Open(ctx, a[0], &manager.Options{LockLease: lease})
	if err != nil {
		return childFail(err)
	}
	defer m.Close()
	l, err := manager.OpenLock(ctx, m, "lock")
	if err != nil {
		return childFail(err)
	}
	locked, err := manager.OpenEvent(ctx, m, "locked")
	if err != nil {
		return childFail(err)
	}
	if err := l.Lock(ctx); err != nil {
		return childFail(err)
	}
	if err := locked.Set(ctx); err != nil {
		return childFail(err)
	}
	if len(a) < 3 {
		time.Sleep(time.Hour) // until killed
		return 1
	}
	goOn, err := manager.OpenEvent(ctx, m, "go")
	if err != nil {
		return childFail(err)
	}
	if err := goOn.Wait(ctx); err != nil {
		return childFail(err)
	}
	if err := l.Unlock(ctx); !errors.Is(err, manager.ErrNotHeld) {
		return childFail(fmt.Errorf("Unlock after the lease ran out: %v, want ErrNotHeld", err))
	}
	return 0
}

// mustStayLocked checks that l is held by someone else: Lock times out.
func mustStayLocked(t *testing.T, l *manager.Lock) {
	t.Helper()
	short, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
	defer cancel()
	if err := l.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held lock: %v, want DeadlineExceeded", err)
	}
}

// A holder killed with SIGKILL frees the lock when its lease runs out.
func TestRedisLockKilledHolder(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	locked, err := manager.OpenEvent(ctx, m, "locked")
	must(t, err)
	l, err := manager.OpenLock(ctx, m, "lock")
	must(t, err)
	c := proctest.Start(t, "redis-lock-holder", []string{url, "500ms"}, nil)
	must(t, locked.Wait(ctx))
	mustStayLocked(t, l)
	c.Kill()
	must(t, l.Lock(ctx)) // waits out the dead holder's lease
	must(t, l.Unlock(ctx))
}

// A holder stopped (SIGSTOP: a long GC pause, a partition) past its lease
// loses the lock; once it runs again its Unlock fails with ErrNotHeld and
// leaves the new holder's lock alone.
func TestRedisLockStoppedHolder(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	locked, err := manager.OpenEvent(ctx, m, "locked")
	must(t, err)
	goOn, err := manager.OpenEvent(ctx, m, "go")
	must(t, err)
	l, err := manager.OpenLock(ctx, m, "lock")
	must(t, err)
	c := proctest.Start(t, "redis-lock-holder", []string{url, "300ms", "late"}, nil)
	must(t, locked.Wait(ctx))
	must(t, syscall.Kill(c.Pid(), syscall.SIGSTOP))
	cont := func() { _ = syscall.Kill(c.Pid(), syscall.SIGCONT) }
	defer cont()
	must(t, l.Lock(ctx)) // after the stopped holder's lease
	cont()
	must(t, goOn.Set(ctx))
	c.MustSucceed(t, time.Minute)
	m2 := open(t, url)
	defer m2.Close()
	l2, err := manager.OpenLock(ctx, m2, "lock")
	must(t, err)
	mustStayLocked(t, l2)
	must(t, l.Unlock(ctx))
	must(t, l2.Lock(ctx))
	must(t, l2.Unlock(ctx))
}

// The same, in one process: the first holder's key vanishes (as if its
// lease ran out) and a second manager takes the lock.
func TestRedisLockLateUnlock(t *testing.T) {
	url, name := redisManager(t)
	ctx := ctxT(t)
	rc := rawRedis(t)
	m1 := openRedis(t, url, nil)
	m2 := open(t, url)
	defer m2.Close()
	m3 := open(t, url)
	defer m3.Close()
	var ls []*manager.Lock
	for _, m := range []*manager.Manager{m1, m2, m3} {
		l, err := manager.OpenLock(ctx, m, "lock")
		must(t, err)
		ls = append(ls, l)
	}
	must(t, ls[0].Lock(ctx))
	must(t, rc.Del(ctx, "{shmkit:"+name+"}:lock:lock").Err())
	must(t, ls[1].Lock(ctx))
	if err := ls[0].Unlock(ctx); !errors.Is(err, manager.ErrNotHeld) {
		t.Fatalf("late Unlock: %v, want ErrNotHeld", err)
	}
	mustStayLocked(t, ls[2])
	must(t, ls[1].Unlock(ctx))
	if err := ls[1].Unlock(ctx); !errors.Is(err, manager.ErrNotHeld) {
		t.Fatalf("second Unlock: %v, want ErrNotHeld", err)
	}
	must(t, ls[2].Lock(ctx))
	must(t, ls[2].Unlock(ctx))
}

// A holder keeps renewing its lease for as long as it holds the lock.
func TestRedisLockRenewal(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m1 := openRedis(t, url, &manager.Options{LockLease: 200 * time.Millisecond})
	m2 := open(t, url)
	defer m2.Close()
	l1, err := manager.OpenLock(ctx, m1, "lock")
	must(t, err)
	l2, err := manager.OpenLock(ctx, m2, "lock")
	must(t, err)
	must(t, l1.Lock(ctx))
	short, cancel := context.WithTimeout(ctx, time.Second) // five leases
	defer cancel()
	if err := l2.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while another holds it and renews: %v", err)
	}
	must(t, l1.Unlock(ctx))
}

// Closing a manager releases the locks it holds, and waiters wake.
func TestRedisLockCloseReleases(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m1 := open(t, url)
	m2 := openRedis(t, url, nil)
	l1, err := manager.OpenLock(ctx, m1, "lock")
	must(t, err)
	l2, err := manager.OpenLock(ctx, m2, "lock")
	must(t, err)
	must(t, l1.Lock(ctx))
	got := make(chan error)
	go func() { got <- l2.Lock(ctx) }()
	time.Sleep(50 * time.Millisecond)
	must(t, m1.Close())
	must(t, <-got)
	if err := l1.Unlock(ctx); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Unlock after Close: %v, want ErrClosed", err)
	}
	must(t, l2.Unlock(ctx))
}

// Goroutines of one manager exclude each other too: the lock is the
// manager's, not a goroutine's, so any of them may unlock it.
func TestRedisLockGoroutines(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	l, err := manager.OpenLock(ctx, m, "lock")
	must(t, err)
	const goroutines, rounds = 8, 20
	// Atomics, since the race detector cannot see the Redis lock.
	var inside, total atomic.Int32
	errs := make(chan error, goroutines)
	for range goroutines {
		go func() {
			for range rounds {
				if err := l.Lock(ctx); err != nil {
					errs <- err
					return
				}
				if n := inside.Add(1); n != 1 {
					errs <- fmt.Errorf("%d holders at once", n)
					return
				}
				total.Add(1)
				inside.Add(-1)
				if err := l.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range goroutines {
		must(t, <-errs)
	}
	if n := total.Load(); n != goroutines*rounds {
		t.Fatalf("%d critical sections, want %d", n, goroutines*rounds)
	}
}
