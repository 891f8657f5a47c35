package manager_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
)

// startRedisCluster starts a one-node Redis Cluster (the node serves every
// slot) for the test. A cluster node refuses multi-key commands, scripts
// and transactions whose keys span slots, even slots it serves itself.
func startRedisCluster(t *testing.T) (addr string) {
	t.Helper()
	needRedis(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := ctxT(t)
	deadline := time.Now().Add(30 * time.Second)
	for c.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("cluster node did not start in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready in 30 s: %q %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every object works through a Redis Cluster client: no command, script
// or transaction touches two slots.
func TestRedisCluster(t *testing.T) {
	addr := startRedisCluster(t)
	ctx := ctxT(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	defer cc.Close()
	name := proctest.Name(t)
	url := "redis://cluster/0?name=" + name
	m, err := manager.Open(ctx, url, &manager.Options{Redis: cc, LockLease: time.Second})
	must(t, err)

	d, err := manager.OpenDict[string, int](ctx, m, "d")
	must(t, err)
	must(t, d.Set(ctx, "a", 1))
	must(t, d.Update(ctx, "a", func(v int, _ bool) (int, bool) { return v + 1, true }))
	if v, ok, err := d.Get(ctx, "a"); v != 2 || !ok || err != nil {
		t.Fatalf("Dict Get: %d %v %v", v, ok, err)
	}
	if _, err := manager.OpenList[int](ctx, m, "d"); !errors.Is(err, manager.ErrKind) {
		t.Fatalf("OpenList of a Dict's name: %v", err)
	}
	l, err := manager.OpenList[string](ctx, m, "l")
	must(t, err)
	must(t, l.Append(ctx, "x", "y"))
	if _, err := l.At(ctx, 5); !errors.Is(err, manager.ErrIndex) {
		t.Fatalf("At(5): %v", err)
	}

	q, err := manager.OpenQueue[int](ctx, m, "q")
	must(t, err)
	got := make(chan int, 1)
	go func() {
		v, err := q.Get(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	time.Sleep(20 * time.Millisecond)
	must(t, q.Put(ctx, 7))
	if v := <-got; v != 7 {
		t.Fatalf("Queue Get: %d", v)
	}

	m2, err := manager.Open(ctx, url, &manager.Options{Redis: cc})
	must(t, err)
	defer m2.Close()
	lk, err := manager.OpenLock(ctx, m, "lock")
	must(t, err)
	lk2, err := manager.OpenLock(ctx, m2, "lock")
	must(t, err)
	must(t, lk.Lock(ctx))
	unlocked := make(chan error, 1)
	go func() { unlocked <- lk2.Lock(ctx) }()
	time.Sleep(20 * time.Millisecond)
	must(t, lk.Unlock(ctx))
	must(t, <-unlocked)
	must(t, lk2.Unlock(ctx))

	e, err := manager.OpenEvent(ctx, m, "e")
	must(t, err)
	waited := make(chan error, 1)
	go func() { waited <- e.Wait(ctx) }()
	time.Sleep(20 * time.Millisecond)
	e2, err := manager.OpenEvent(ctx, m2, "e")
	must(t, err)
	must(t, e2.Set(ctx))
	must(t, <-waited)

	s, err := manager.OpenSemaphore(ctx, m, "s", 1)
	must(t, err)
	must(t, s.Acquire(ctx))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := s.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire at zero: %v", err)
	}
	cancel()
	must(t, s.Release(ctx))

	must(t, m.Destroy(ctx))
	var left []string
	must(t, cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, "*").Result()
		left = append(left, keys...)
		return err
	}))
	if len(left) != 0 {
		t.Fatalf("keys left after Destroy: %v", left)
	}
}
