package manager_test

import (
	"context"
	"fmt"
	"os"

	"github.com/shmkit/shmkit/manager"
)

func exampleManager() (*manager.Manager, func()) {
	ctx := context.Background()
	m, err := manager.Open(ctx, fmt.Sprintf("shm:shmkit-example-%d", os.Getpid()), nil)
	if err != nil {
		panic(err)
	}
	return m, func() { _ = m.Destroy(ctx) }
}

func ExampleOpenDict() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	d, _ := manager.OpenDict[string, int64](ctx, m, "stock")
	_ = d.Set(ctx, "apples", 3)
	_ = d.Update(ctx, "apples", func(n int64, found bool) (int64, bool) { return n + 1, true })
	n, ok, _ := d.Get(ctx, "apples")
	fmt.Println(n, ok)
	// Output: 4 true
}

func ExampleOpenList() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	l, _ := manager.OpenList[string](ctx, m, "names")
	_ = l.Append(ctx, "ada", "grace", "linus")
	last, _ := l.Pop(ctx)
	all, _ := l.Items(ctx)
	fmt.Println(last, all)
	// Output: linus [ada grace]
}

func ExampleOpenNamespace() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	ns, _ := manager.OpenNamespace(ctx, m, "config")
	_ = ns.Set(ctx, "workers", 8)
	var w int
	_ = ns.Get(ctx, "workers", &w)
	fmt.Println(w)
	// Output: 8
}

func ExampleOpenQueue() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	q, _ := manager.OpenQueue[string](ctx, m, "jobs")
	_ = q.Put(ctx, "first")
	_ = q.Put(ctx, "second")
	a, _ := q.Get(ctx)
	b, _ := q.Get(ctx)
	fmt.Println(a, b)
	// Output: first second
}

func ExampleOpenLock() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	l, _ := manager.OpenLock(ctx, m, "critical")
	if err := l.Lock(ctx); err == nil {
		fmt.Println("locked")
		_ = l.Unlock(ctx)
	}
	// Output: locked
}

func ExampleOpenEvent() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	e, _ := manager.OpenEvent(ctx, m, "ready")
	go func() { _ = e.Set(ctx) }()
	_ = e.Wait(ctx)
	set, _ := e.IsSet(ctx)
	fmt.Println(set)
	// Output: true
}

func ExampleOpenSemaphore() {
	ctx := context.Background()
	m, done := exampleManager()
	defer done()
	s, _ := manager.OpenSemaphore(ctx, m, "slots", 2)
	_ = s.Acquire(ctx)
	_ = s.Acquire(ctx)
	_ = s.Release(ctx)
	fmt.Println("acquired twice, released once")
	// Output: acquired twice, released once
}
