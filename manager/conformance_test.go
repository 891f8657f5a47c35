package manager_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
)

// The conformance suite: every backend must pass it unchanged.

func TestURLs(t *testing.T) {
	ctx := ctxT(t)
	for _, u := range []string{"", "nourl", "ftp://x", "shm:", "shm:a/b", "redis://[::1", "mysql://h/db"} {
		if m, err := manager.Open(ctx, u, nil); !errors.Is(err, manager.ErrURL) {
			if m != nil {
				m.Close()
			}
			t.Errorf("Open(%q): %v, want ErrURL", u, err)
		}
	}
}

type point struct{ X, Y int32 }

func TestDict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, m *manager.Manager) {
		ctx := ctxT(t)
		d, err := manager.OpenDict[string, int64](ctx, m, "d")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := d.Get(ctx, "a"); ok || err != nil {
			t.Fatalf("Get of a missing key: %v %v", ok, err)
		}
		for i := range 100 {
			if err := d.Set(ctx, "k"+strconv.Itoa(i), int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok, err := d.Get(ctx, "k42"); v != 42 || !ok || err != nil {
			t.Fatalf("Get: %d %v %v", v, ok, err)
		}
		if n, err := d.Len(ctx); n != 100 || err != nil {
			t.Fatalf("Len: %d %v", n, err)
		}
		if ok, err := d.Delete(ctx, "k42"); !ok || err != nil {
			t.Fatalf("Delete: %v %v", ok, err)
		}
		if ok, err := d.Delete(ctx, "k42"); ok || err != nil {
			t.Fatalf("second Delete: %v %v", ok, err)
		}
		if err := d.Update(ctx, "k1", func(old int64, found bool) (int64, bool) { return old + 10, true }); err != nil {
			t.Fatal(err)
		}
		if err := d.Update(ctx, "new", func(old int64, found bool) (int64, bool) {
			if found {
				t.Error("Update saw a missing key as found")
			}
			return 7, true
		}); err != nil {
			t.Fatal(err)
		}
		if err := d.Update(ctx, "k2", func(int64, bool) (int64, bool) { return 0, false }); err != nil {
			t.Fatal(err)
		}
		items, err := d.Items(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 99 || items["k1"] != 11 || items["new"] != 7 {
			t.Fatalf("Items: %d entries, k1=%d new=%d", len(items), items["k1"], items["new"])
		}
		if _, ok := items["k2"]; ok {
			t.Fatal("Update returning false did not delete")
		}
		// Same name, same object; another manager on the same URL sees it.
		m2 := open(t, url)
		defer m2.Close()
		d2, err := manager.OpenDict[string, int64](ctx, m2, "d")
		if err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := d2.Get(ctx, "new"); !ok || v != 7 {
			t.Fatalf("second manager: %d %v", v, ok)
		}
		if err := d.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := d2.Len(ctx); n != 0 {
			t.Fatalf("Len after Clear: %d", n)
		}
		// Non-raw values and keys, and big values that must grow storage.
		d3, err := manager.OpenDict[point, []string](ctx, m, "d3")
		if err != nil {
			t.Fatal(err)
		}
		big := make([]string, 2000)
		for i := range big {
			big[i] = fmt.Sprintf("value-%d", i)
		}
		for i := range 50 {
			if err := d3.Set(ctx, point{int32(i), -1}, big); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok, err := d3.Get(ctx, point{7, -1}); !ok || err != nil || len(v) != 2000 || v[1999] != "value-1999" {
			t.Fatalf("big value: %d %v %v", len(v), ok, err)
		}
		// A name holds one kind.
		if _, err := manager.OpenList[int](ctx, m, "d"); !errors.Is(err, manager.ErrKind) {
			t.Fatalf("OpenList on a Dict's name: %v", err)
		}
	})
}

func TestList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, m *manager.Manager) {
		ctx := ctxT(t)
		l, err := manager.OpenList[string](ctx, m, "l")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Pop(ctx); !errors.Is(err, manager.ErrIndex) {
			t.Fatalf("Pop of empty: %v", err)
		}
		if err := l.Append(ctx, "a", "b", "c"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			i    int
			want string
		}{{0, "a"}, {2, "c"}, {-1, "c"}, {-3, "a"}} {
			if v, err := l.At(ctx, tc.i); v != tc.want || err != nil {
				t.Fatalf("At(%d) = %q, %v", tc.i, v, err)
			}
		}
		for _, i := range []int{3, -4, 1 << 40} {
			if _, err := l.At(ctx, i); !errors.Is(err, manager.ErrIndex) {
				t.Fatalf("At(%d): %v", i, err)
			}
			if err := l.Set(ctx, i, "x"); !errors.Is(err, manager.ErrIndex) {
				t.Fatalf("Set(%d): %v", i, err)
			}
		}
		if err := l.Set(ctx, 1, "B"); err != nil {
			t.Fatal(err)
		}
		if v, err := l.Pop(ctx); v != "c" || err != nil {
			t.Fatalf("Pop: %q %v", v, err)
		}
		items, err := l.Items(ctx)
		if err != nil || len(items) != 2 || items[0] != "a" || items[1] != "B" {
			t.Fatalf("Items: %v %v", items, err)
		}
		if n, err := l.Len(ctx); n != 2 || err != nil {
			t.Fatalf("Len: %d %v", n, err)
		}
		for i := range 1000 {
			if err := l.Append(ctx, strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := l.At(ctx, 1001); v != "999" || err != nil {
			t.Fatalf("after growth: %q %v", v, err)
		}
	})
}

func TestNamespace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, m *manager.Manager) {
		ctx := ctxT(t)
		ns, err := manager.OpenNamespace(ctx, m, "ns")
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := ns.Get(ctx, "missing", &s); !errors.Is(err, manager.ErrNoAttr) {
			t.Fatalf("Get of a missing attribute: %v", err)
		}
		if err := ns.Delete(ctx, "missing"); !errors.Is(err, manager.ErrNoAttr) {
			t.Fatalf("Delete of a missing attribute: %v", err)
		}
		if err := ns.Set(ctx, "greeting", "hello"); err != nil {
			t.Fatal(err)
		}
		if err := ns.Set(ctx, "point", point{1, 2}); err != nil {
			t.Fatal(err)
		}
		var p point
		if err := ns.Get(ctx, "point", &p); err != nil || p != (point{1, 2}) {
			t.Fatalf("Get: %v %v", p, err)
		}
		attrs, err := ns.Attrs(ctx)
		sort.Strings(attrs)
		if err != nil || len(attrs) != 2 || attrs[0] != "greeting" {
			t.Fatalf("Attrs: %v %v", attrs, err)
		}
		if err := ns.Delete(ctx, "greeting"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueueLockEventSemaphore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, m *manager.Manager) {
		ctx := ctxT(t)
		q, err := manager.OpenQueue[int](ctx, m, "q")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := q.Put(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := q.Len(ctx); n != 5 || err != nil {
			t.Fatalf("Len %d %v", n, err)
		}
		for i := range 5 {
			if v, err := q.Get(ctx); v != i || err != nil {
				t.Fatalf("Get %d: %d %v", i, v, err)
			}
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		if _, err := q.Get(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get of an empty queue: %v", err)
		}
		cancel()
		got := make(chan int)
		go func() {
			v, err := q.Get(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		time.Sleep(20 * time.Millisecond)
		if err := q.Put(ctx, 99); err != nil {
			t.Fatal(err)
		}
		if v := <-got; v != 99 {
			t.Fatalf("blocked Get got %d", v)
		}

		l, err := manager.OpenLock(ctx, m, "lock")
		if err != nil {
			t.Fatal(err)
		}
		m2 := open(t, url)
		defer m2.Close()
		l2, err := manager.OpenLock(ctx, m2, "lock")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		if err := l2.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Lock while held: %v", err)
		}
		cancel()
		if err := l2.Unlock(ctx); !errors.Is(err, manager.ErrNotHeld) {
			t.Fatalf("Unlock by a non-holder: %v", err)
		}
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l2.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l2.Unlock(ctx); err != nil {
			t.Fatal(err)
		}

		e, err := manager.OpenEvent(ctx, m, "ev")
		if err != nil {
			t.Fatal(err)
		}
		if set, err := e.IsSet(ctx); set || err != nil {
			t.Fatalf("fresh event: %v %v", set, err)
		}
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.Wait(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		if err := e.Set(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if err := e.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		if err := e.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a cleared event: %v", err)
		}
		cancel()

		s, err := manager.OpenSemaphore(ctx, m, "sem", 2)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
		}
		short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		if err := s.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire at zero: %v", err)
		}
		cancel()
		done := make(chan error)
		go func() { done <- s.Acquire(ctx) }()
		time.Sleep(20 * time.Millisecond)
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := manager.OpenSemaphore(ctx, m, "sem2", -1); err == nil {
			t.Fatal("negative semaphore count accepted")
		}
	})
}

// Cross-process: the classic increments, a drained queue, a namespace.

var roles = map[string]proctest.Role{
	"increment": func() int { // url, n
		a := proctest.Args()
		n, _ := strconv.Atoi(a[1])
		ctx := context.Background()
		m, err := manager.Open(ctx, a[0], nil)
		if err != nil {
			return childFail(err)
		}
		defer m.Close()
		d, err := manager.OpenDict[string, int64](ctx, m, "counter")
		if err != nil {
			return childFail(err)
		}
		for range n {
			if err := d.Update(ctx, "n", func(old int64, _ bool) (int64, bool) { return old + 1, true }); err != nil {
				return childFail(err)
			}
		}
		return 0
	},
	"drain": func() int { // url: take until a -1, report what was taken in the list "taken"
		a := proctest.Args()
		ctx := context.Background()
		m, err := manager.Open(ctx, a[0], nil)
		if err != nil {
			return childFail(err)
		}
		defer m.Close()
		q, err := manager.OpenQueue[int64](ctx, m, "work")
		if err != nil {
			return childFail(err)
		}
		taken, err := manager.OpenList[int64](ctx, m, "taken")
		if err != nil {
			return childFail(err)
		}
		for {
			v, err := q.Get(ctx)
			if err != nil {
				return childFail(err)
			}
			if v < 0 {
				return 0
			}
			if err := taken.Append(ctx, v); err != nil {
				return childFail(err)
			}
		}
	},
	"namespace-set": func() int { // url
		ctx := context.Background()
		m, err := manager.Open(ctx, proctest.Args()[0], nil)
		if err != nil {
			return childFail(err)
		}
		defer m.Close()
		ns, err := manager.OpenNamespace(ctx, m, "ns")
		if err != nil {
			return childFail(err)
		}
		if err := ns.Set(ctx, "from", fmt.Sprintf("pid %d", os.Getpid())); err != nil {
			return childFail(err)
		}
		return 0
	},
}

func childFail(err error) int {
	fmt.Fprintln(os.Stderr, "child:", err)
	return 1
}

func TestAcrossProcesses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string, m *manager.Manager) {
		ctx := ctxT(t)
		const procs, n = 4, 500
		var cs []*proctest.Child
		for range procs {
			cs = append(cs, proctest.Start(t, "increment", []string{url, strconv.Itoa(n)}, nil))
		}
		for _, c := range cs {
			c.MustSucceed(t, 2*time.Minute)
		}
		d, err := manager.OpenDict[string, int64](ctx, m, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if v, _, err := d.Get(ctx, "n"); v != procs*n || err != nil {
			t.Fatalf("%d processes × %d Updates = %d, %v", procs, n, v, err)
		}

		q, err := manager.OpenQueue[int64](ctx, m, "work")
		if err != nil {
			t.Fatal(err)
		}
		const items = 2000
		cs = nil
		for range procs {
			cs = append(cs, proctest.Start(t, "drain", []string{url}, nil))
		}
		for i := range items {
			if err := q.Put(ctx, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		for range procs {
			if err := q.Put(ctx, -1); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cs {
			c.MustSucceed(t, 2*time.Minute)
		}
		taken, err := manager.OpenList[int64](ctx, m, "taken")
		if err != nil {
			t.Fatal(err)
		}
		all, err := taken.Items(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]int, items)
		for _, v := range all {
			seen[v]++
		}
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("item %d taken %d times (%d taken in all)", i, c, len(all))
			}
		}

		proctest.Start(t, "namespace-set", []string{url}, nil).MustSucceed(t, time.Minute)
		ns, err := manager.OpenNamespace(ctx, m, "ns")
		if err != nil {
			t.Fatal(err)
		}
		var from string
		if err := ns.Get(ctx, "from", &from); err != nil || len(from) < 5 {
			t.Fatalf("value set by a child: %q %v", from, err)
		}
	})
}
