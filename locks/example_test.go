package locks_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

// A Mutex is a field of the program's own C-layout struct, placed in a
// segment that every process maps. Here two goroutines, each with its own
// mapping of the segment, stand in for two processes.
func ExampleMutex() {
	// Account is the layout every process agrees on.
	type Account struct {
		Mu      locks.Mutex // guards the fields below
		Balance int64
		Updates int64
	}

	name := fmt.Sprintf("shmkit-example-account-%d", os.Getpid())
	seg, err := shm.Create(name, 4096, nil) // zero-filled: Mu is unlocked
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	peer, err := shm.Open(name, nil) // what the other process does
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()
	// Everyone has attached: remove the name, so that nothing lingers in
	// /dev/shm whatever happens next. The mappings stay valid.
	if err := seg.Unlink(); err != nil {
		log.Fatal(err)
	}

	var wg sync.WaitGroup
	for _, s := range []*shm.Segment{seg, peer} {
		acct, err := ctypes.View[Account](s.Bytes())
		if err != nil {
			log.Fatal(err)
		}
		wg.Go(func() {
			for range 1000 {
				acct.Mu.Lock()
				acct.Balance += 10
				acct.Updates++
				acct.Mu.Unlock()
			}
		})
	}
	wg.Wait()

	acct, _ := ctypes.View[Account](seg.Bytes())
	fmt.Println(acct.Balance, acct.Updates)
	// Output: 20000 2000
}

// LockContext is the form to use when a holder may die: the next
// LockContext then gets the lock with ErrOwnerDead, and the data may be
// half-updated. Repair it, then MarkConsistent. In this run no holder dies,
// so the repair branch is not taken; TestOwnerDeadMutex kills one.
func ExampleMutex_LockContext() {
	// Pair keeps the invariant A+B == 100 whenever Mu is free.
	type Pair struct {
		Mu   locks.Mutex
		A, B int64
	}
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	p, err := ctypes.View[Pair](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	p.A = 100

	move := func(ctx context.Context, n int64) error {
		switch err := p.Mu.LockContext(ctx); {
		case errors.Is(err, locks.ErrOwnerDead):
			// We hold the lock; its last holder died mid-update. Restore
			// the invariant, then say so, or Unlock makes the lock
			// unrecoverable for everyone.
			p.B = 100 - p.A
			p.Mu.MarkConsistent()
		case err != nil:
			return err // ctx ended, or ErrNotRecoverable: we do not hold it
		}
		defer p.Mu.Unlock()
		p.A -= n
		p.B += n
		return nil
	}

	fmt.Println(move(context.Background(), 30), p.A, p.B)

	// While the lock is held (by any goroutine of this process, or by
	// another process), a deadline ends the wait.
	p.Mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(move(ctx, 30))
	p.Mu.Unlock()
	// Output:
	// <nil> 70 30
	// context deadline exceeded
}

// An RMutex may be locked again by the goroutine that holds it, so a
// function that takes the lock can call another that takes it too. Other
// goroutines and processes wait.
func ExampleRMutex() {
	type Tree struct {
		Mu    locks.RMutex
		Nodes int64
	}
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	t, err := ctypes.View[Tree](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}

	var grow func(depth int)
	grow = func(depth int) {
		t.Mu.Lock() // re-entered by the recursion
		defer t.Mu.Unlock()
		t.Nodes++
		if depth > 0 {
			grow(depth - 1)
			grow(depth - 1)
		}
	}
	grow(3)
	fmt.Println("nodes:", t.Nodes)

	t.Mu.Lock()
	other := make(chan bool)
	go func() { other <- t.Mu.TryLock() }()
	fmt.Println("another goroutine gets it:", <-other)
	t.Mu.Unlock()
	// Output:
	// nodes: 15
	// another goroutine gets it: false
}

// A Semaphore initialized to n admits n holders at once, across every
// process that maps it.
func ExampleSemaphore() {
	type Pool struct {
		Slots locks.Semaphore
	}
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	p, err := ctypes.View[Pool](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	p.Slots.Init(2) // once, by whoever creates the segment

	fmt.Println(p.Slots.TryAcquire(), p.Slots.TryAcquire(), p.Slots.TryAcquire())

	// Acquire waits for a Release.
	acquired := make(chan error)
	go func() { acquired <- p.Slots.Acquire(context.Background()) }()
	p.Slots.Release()
	fmt.Println(<-acquired, p.Slots.Value())

	// Or until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(p.Slots.Acquire(ctx))
	// Output:
	// true true false
	// <nil> 0
	// context deadline exceeded
}

// A BoundedSemaphore refuses a Release that would raise its count above the
// initial value: a unit released twice is a bug, reported as
// ErrOverRelease.
func ExampleBoundedSemaphore() {
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	sem, err := ctypes.View[locks.BoundedSemaphore](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	sem.Init(1)

	if err := sem.Acquire(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sem.Release())
	err = sem.Release()
	fmt.Println(errors.Is(err, locks.ErrOverRelease), sem.Value())
	// Output:
	// <nil>
	// true 1
}

// A Cond lets a waiter sleep until another goroutine or process changes
// the data its Mutex guards. Wait in a loop on the condition.
func ExampleCond() {
	type Queue struct {
		Mu    locks.Mutex
		Ready locks.Cond // signalled when Items grows
		Items int64
	}
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	q, err := ctypes.View[Queue](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}

	consumed := make(chan int)
	go func() {
		n := 0
		for range 3 {
			q.Mu.Lock()
			for q.Items == 0 {
				q.Ready.Wait(&q.Mu)
			}
			q.Items--
			n++
			q.Mu.Unlock()
		}
		consumed <- n
	}()
	for range 3 {
		q.Mu.Lock()
		q.Items++
		q.Mu.Unlock()
		q.Ready.Signal()
	}
	fmt.Println("consumed", <-consumed, "left", q.Items)
	// Output: consumed 3 left 0
}

// An Event is a flag that goroutines and processes wait for.
func ExampleEvent() {
	type Flags struct {
		Started locks.Event
	}
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	f, err := ctypes.View[Flags](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println("before Set:", f.Started.Wait(ctx))

	woken := make(chan error)
	go func() { woken <- f.Started.Wait(context.Background()) }()
	f.Started.Set()
	fmt.Println("after Set:", <-woken, f.Started.IsSet())

	f.Started.Clear()
	fmt.Println("after Clear:", f.Started.IsSet())
	// Output:
	// before Set: context deadline exceeded
	// after Set: <nil> true
	// after Clear: false
}

// A Barrier holds each waiter until all parties have arrived, then
// releases them together, each with its own index.
func ExampleBarrier() {
	seg, err := shm.Anonymous(4096)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	bar, err := ctypes.View[locks.Barrier](seg.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	bar.Init(3)

	indices := make([]int, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() { indices[w], errs[w] = bar.Wait(context.Background()) })
	}
	wg.Wait()
	slices.Sort(indices)
	fmt.Println(indices, errors.Join(errs...))

	// Abort breaks it: waiters, present and future, give up until Reset.
	bar.Abort()
	_, err = bar.Wait(context.Background())
	fmt.Println(errors.Is(err, locks.ErrBrokenBarrier))
	bar.Reset()
	fmt.Println(bar.Broken(), bar.Parties())
	// Output:
	// [0 1 2] <nil>
	// true
	// false 3
}

func ExampleNewMutex() {
	// A Mutex in a segment of its own: pass mu to a fork task and the child
	// locks the same mutex.
	mu, err := locks.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mu.Close()
	mu.Lock()
	fmt.Println("held:", mu.Held())
	mu.Unlock()
	// Output: held: true
}
