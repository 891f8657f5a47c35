package park

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wakeUntil changes nothing; it wakes the word until done is closed, so the
// tests do not depend on when the sleepers reach the kernel.
func wakeUntil(addr *uint32, done <-chan struct{}) {
	for {
		Wake(addr, WakeAll)
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func TestWaitReturnsOnChange(t *testing.T) {
	var w uint32
	const n = 100
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(&w) == 0 {
				if err := Wait(context.Background(), &w, 0, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	atomic.StoreUint32(&w, 1)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wakeUntil(&w, done)
	sleepersMu.Lock()
	left := len(sleepers)
	sleepersMu.Unlock()
	if left != 0 {
		t.Fatalf("%d sleeper entries left", left)
	}
}

func TestWaitMismatchReturnsAtOnce(t *testing.T) {
	w := uint32(5)
	if err := Wait(context.Background(), &w, 4, 0); err != nil {
		t.Fatal(err)
	}
}

func TestWaitCancelAndTimeout(t *testing.T) {
	var w uint32
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 2)
	go func() { res <- Wait(ctx, &w, 0, 0) }() // kernel sleeper
	go func() { res <- Wait(ctx, &w, 0, 0) }() // parked behind it
	time.Sleep(10 * time.Millisecond)
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
	}
	if err := Wait(context.Background(), &w, 0, time.Millisecond); err != ErrTimeout {
		t.Fatalf("timed wait: %v, want ErrTimeout", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer dcancel()
	if err := Wait(dctx, &w, 0, time.Hour); err != context.DeadlineExceeded {
		t.Fatalf("deadline: %v, want DeadlineExceeded", err)
	}
	if err := Wait(ctx, &w, 0, 0); err != context.Canceled {
		t.Fatalf("already cancelled: %v", err)
	}
}

func TestGateSerializesAndCancels(t *testing.T) {
	var w uint32
	g, err := Enter(context.Background(), &w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := Enter(ctx, &w); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Enter while held: %v", err)
	}
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := Enter(context.Background(), &w)
			if err != nil {
				t.Error(err)
				return
			}
			if n := inside.Add(1); n > maxInside.Load() {
				maxInside.Store(n)
			}
			time.Sleep(100 * time.Microsecond)
			inside.Add(-1)
			g.Leave()
		}()
	}
	g.Leave()
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d goroutines held the gate at once", maxInside.Load())
	}
	gatesMu.Lock()
	left := len(gates)
	gatesMu.Unlock()
	if left != 0 {
		t.Fatalf("%d gate entries left", left)
	}
}
