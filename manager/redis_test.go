package manager_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
)

// needRedis skips t without a test server, unless SHMKIT_REQUIRE_REDIS is
// set: then it fails.
func needRedis(t testing.TB) {
	t.Helper()
	if redisURL != "" {
		return
	}
	if os.Getenv(requireRedisEnv) != "" {
		t.Fatalf("Redis required (%s set) but unavailable: %s", requireRedisEnv, redisSkip)
	}
	t.Skip(redisSkip)
}

// redisManager returns a fresh manager URL on the test server and the
// manager name in it.
func redisManager(t testing.TB) (url, name string) {
	needRedis(t)
	name = proctest.Name(t)
	return redisURL + "?name=" + name, name
}

// rawRedis is a plain client of the test server, closed after the test.
func rawRedis(t testing.TB) *redis.Client {
	t.Helper()
	needRedis(t)
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// openRedis opens url with opts and destroys the manager after the test.
func openRedis(t testing.TB, url string, opts *manager.Options) *manager.Manager {
	t.Helper()
	m, err := manager.Open(ctxT(t), url, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(context.Background()); err != nil && !errors.Is(err, manager.ErrClosed) {
			t.Errorf("Destroy: %v", err)
		}
	})
	return m
}

// keysOf lists the test server's keys (in DB 0) that contain s.
func keysOf(t testing.TB, rc *redis.Client, s string) []string {
	t.Helper()
	var keys []string
	iter := rc.Scan(context.Background(), 0, "*", 1000).Iterator()
	for iter.Next(context.Background()) {
		if strings.Contains(iter.Val(), s) {
			keys = append(keys, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// hashTag is the part of key Redis Cluster hashes: the text between the
// first '{' and the next '}', if not empty; the whole key otherwise.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestRedisURLErrors(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct{ url, want string }{
		{"redis://h:0/0", "bad port"},
		{"redis://h:70000/0", "bad port"},
		{"redis://h:abc/0", "port"},
		{"redis://h:/0", "empty port"},
		{"redis://h:6379/x", "bad DB number"},
		{"redis://h:6379/-1", "bad DB number"},
		{"redis://h:6379/+1", "bad DB number"},
		{"redis://h:6379/0/1", "bad DB number"},
		{"redis://h:6379/0?db=1", `unknown query parameter "db"`},
		{"redis://h:6379/0?name=", "empty name"},
		{"redis://h:6379/0?name=a&name=b", "name given 2 times"},
		{"redis://h:6379/0?name=a%7Bb%7D", "brace"},
		{"redis://h:6379/0?name=a;b", "bad query"},
		{"redis://h:6379/0#x", "fragment"},
		{"redis:h:6379", "want redis://"},
		{"rediss:///0", "no host"},
		{"redis://:sekrit@h:0/0", "bad port"},
		{"redis://:sekrit@h:abc/0", "invalid port"},
	} {
		m, err := manager.Open(ctx, tc.url, nil)
		if m != nil {
			m.Close()
		}
		if !errors.Is(err, manager.ErrURL) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v; want ErrURL saying %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "sekrit") {
			t.Errorf("Open(%q): the error shows the password: %v", tc.url, err)
		}
	}
}

func TestRedisURLForms(t *testing.T) {
	needRedis(t)
	ctx := ctxT(t)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := rawRedis(t)

	// No DB and no name: DB 0, the manager "shmkit".
	_, name := redisManager(t)
	m := openRedis(t, "redis://"+u.Host+"?name="+name, nil)
	d, err := manager.OpenDict[string, string](ctx, m, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.HGet(ctx, "{shmkit:"+name+"}:dict:d", "k").Result(); v != `"v"` || err != nil {
		t.Fatalf("the value in Redis: %q %v, want the JSON string \"v\"", v, err)
	}

	// DB 1, the default name.
	m1 := openRedis(t, "redis://"+u.Host+"/1", nil)
	d1, err := manager.OpenDict[string, int](ctx, m1, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	o, _ := redis.ParseURL(redisURL)
	o.DB = 1
	rc1 := redis.NewClient(o)
	defer rc1.Close()
	if n, err := rc1.Exists(ctx, "{shmkit:shmkit}:dict:d").Result(); n != 1 || err != nil {
		t.Fatalf("DB 1 holds no {shmkit:shmkit}:dict:d: %d %v", n, err)
	}

	// A password (the test server's default user takes any), and an
	// error that does not show it: nothing listens on port 1.
	m2 := openRedis(t, "redis://:sekrit@"+u.Host+"/0?name="+name, nil)
	d2, err := manager.OpenDict[string, string](ctx, m2, "d")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := d2.Get(ctx, "k"); v != "v" || err != nil {
		t.Fatalf("Get through a URL with a password: %q %v", v, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if m, err := manager.Open(short, "redis://:sekrit@127.0.0.1:1/0", nil); err == nil {
		m.Close()
		t.Fatal("Open of a closed port succeeded")
	} else if strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestRedisUserClient(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	defer c.Close()
	// The URL's host is ignored when a client is given.
	m, err := manager.Open(ctx, strings.Replace(url, "127.0.0.1", "192.0.2.1", 1), &manager.Options{Redis: c})
	if err != nil {
		t.Fatal(err)
	}
	q, err := manager.OpenQueue[string](ctx, m, "q")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Put(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if v, err := q.Get(ctx); v != "x" || err != nil {
		t.Fatalf("Get: %q %v", v, err)
	}
	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the manager closed the client it was given: %v", err)
	}
	if err := q.Put(ctx, "y"); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
	if _, err := q.Get(ctx); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}

// Every key a manager makes carries its hash tag, and Destroy removes them
// all.
func TestRedisKeysAndDestroy(t *testing.T) {
	url, name := redisManager(t)
	ctx := ctxT(t)
	rc := rawRedis(t)
	m, err := manager.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	destroyed := false
	defer func() {
		if !destroyed {
			m.Destroy(context.Background())
		}
	}()
	// Object names that look like keys, hash tags or patterns.
	for _, obj := range []string{"a", "a:b", "{x}", "*?[", "lock:a"} {
		d, err := manager.OpenDict[string, int](ctx, m, "dict "+obj)
		must(t, err)
		must(t, d.Set(ctx, "k", 1))
		ns, err := manager.OpenNamespace(ctx, m, "ns "+obj)
		must(t, err)
		must(t, ns.Set(ctx, "k", 1))
		l, err := manager.OpenList[int](ctx, m, "list "+obj)
		must(t, err)
		must(t, l.Append(ctx, 1, 2))
		q, err := manager.OpenQueue[int](ctx, m, "queue "+obj)
		must(t, err)
		must(t, q.Put(ctx, 1))
		lk, err := manager.OpenLock(ctx, m, "lock "+obj)
		must(t, err)
		must(t, lk.Lock(ctx))
		must(t, lk.Unlock(ctx)) // leaves a wake-up token
		must(t, lk.Lock(ctx))   // held at Destroy
		e, err := manager.OpenEvent(ctx, m, "event "+obj)
		must(t, err)
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		if err := e.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v", err)
		}
		cancel()
		must(t, e.Set(ctx))
		s, err := manager.OpenSemaphore(ctx, m, "sem "+obj, 3)
		must(t, err)
		must(t, s.Acquire(ctx))
	}
	keys := keysOf(t, rc, name)
	want := "{shmkit:" + name + "}:"
	for _, k := range keys {
		if !strings.HasPrefix(k, want) || hashTag(k) != "shmkit:"+name {
			t.Errorf("key %q: hash tag %q, want %q", k, hashTag(k), "shmkit:"+name)
		}
	}
	// registry + 5 × (dict, dict, list, queue, lock, lockfence, lockwake, event, sem)
	if len(keys) != 1+5*9 {
		t.Errorf("%d keys, want %d:\n%s", len(keys), 1+5*9, strings.Join(keys, "\n"))
	}
	kinds, err := rc.HGetAll(ctx, want+"registry").Result()
	must(t, err)
	if kinds["dict a:b"] != "Dict" || kinds["ns *?["] != "Namespace" || kinds["sem {x}"] != "Semaphore" || kinds["lock lock:a"] != "Lock" {
		t.Errorf("registry: %v", kinds)
	}

	must(t, m.Destroy(ctx))
	destroyed = true
	if keys := keysOf(t, rc, name); len(keys) != 0 {
		t.Fatalf("after Destroy: %s", strings.Join(keys, "\n"))
	}
}

func TestRedisKindConflict(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	if _, err := manager.OpenQueue[int](ctx, m, "x"); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func() error{
		func() error { _, err := manager.OpenDict[int, int](ctx, m, "x"); return err },
		func() error { _, err := manager.OpenNamespace(ctx, m, "x"); return err },
		func() error { _, err := manager.OpenLock(ctx, m, "x"); return err },
		func() error { _, err := manager.OpenSemaphore(ctx, m, "x", 1); return err },
	} {
		if err := open(); !errors.Is(err, manager.ErrKind) || !strings.Contains(err.Error(), "Queue") {
			t.Errorf("opening a Queue's name as another kind: %v", err)
		}
	}
}

func TestRedisSemaphoreKeepsCount(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	s, err := manager.OpenSemaphore(ctx, m, "s", 2)
	must(t, err)
	must(t, s.Acquire(ctx))
	m2 := open(t, url)
	defer m2.Close()
	s2, err := manager.OpenSemaphore(ctx, m2, "s", 5)
	must(t, err)
	must(t, s2.Acquire(ctx))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s2.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second open changed the count: third Acquire %v", err)
	}
	if _, err := manager.OpenSemaphore(ctx, m, "big", 1<<30); err == nil {
		t.Fatal("a count of 2^30 accepted")
	}
	if _, err := manager.OpenSemaphore(ctx, m, "zero", 0); err != nil {
		t.Fatal(err)
	}
}

func TestRedisListIndex(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	l, err := manager.OpenList[int](ctx, m, "l")
	must(t, err)
	for _, i := range []int{0, -1, 1} { // an empty list has no key
		if _, err := l.At(ctx, i); !errors.Is(err, manager.ErrIndex) {
			t.Errorf("At(%d) of empty: %v", i, err)
		}
		if err := l.Set(ctx, i, 1); !errors.Is(err, manager.ErrIndex) {
			t.Errorf("Set(%d) of empty: %v", i, err)
		}
	}
	must(t, l.Append(ctx))
	must(t, l.Append(ctx, 1, 2, 3))
	must(t, l.Set(ctx, -3, 10))
	if v, err := l.At(ctx, 0); v != 10 || err != nil {
		t.Fatalf("At(0) after Set(-3): %d %v", v, err)
	}
	if _, err := l.At(ctx, -(1 << 62)); !errors.Is(err, manager.ErrIndex) {
		t.Fatalf("At(-2^62): %v", err)
	}
}

// Keys another program wrote with the wrong type read as ErrCorrupt.
func TestRedisForeignData(t *testing.T) {
	url, name := redisManager(t)
	ctx := ctxT(t)
	rc := rawRedis(t)
	m := openRedis(t, url, nil)
	d, err := manager.OpenDict[string, int](ctx, m, "d")
	must(t, err)
	must(t, rc.Set(ctx, "{shmkit:"+name+"}:dict:d", "a string", 0).Err())
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, manager.ErrCorrupt) {
		t.Fatalf("Get from a string key: %v", err)
	}
	must(t, rc.Del(ctx, "{shmkit:"+name+"}:dict:d").Err())
	must(t, rc.HSet(ctx, "{shmkit:"+name+"}:dict:d", "k", "not json").Err())
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, manager.ErrCorrupt) {
		t.Fatalf("Get of a value that is not JSON: %v", err)
	}
	if err := d.Update(ctx, "k", func(v int, _ bool) (int, bool) { return v + 1, true }); !errors.Is(err, manager.ErrCorrupt) {
		t.Fatalf("Update of a value that is not JSON: %v", err)
	}
	if v, _ := rc.HGet(ctx, "{shmkit:"+name+"}:dict:d", "k").Result(); v != "not json" {
		t.Fatalf("a failed Update wrote %q", v)
	}
}

// Update of values longer than the script compares inline.
func TestRedisUpdateLongValues(t *testing.T) {
	url, _ := redisManager(t)
	ctx := ctxT(t)
	m := openRedis(t, url, nil)
	d, err := manager.OpenDict[string, string](ctx, m, "d")
	must(t, err)
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			for range 50 {
				if err := d.Update(ctx, "k", func(old string, _ bool) (string, bool) {
					return old + fmt.Sprintf("%d-%s|", g, strings.Repeat("x", 100)), true
				}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		must(t, <-done)
	}
	v, _, err := d.Get(ctx, "k")
	must(t, err)
	if n := strings.Count(v, "|"); n != 200 {
		t.Fatalf("%d updates applied, want 200", n)
	}
	must(t, d.Update(ctx, "k", func(string, bool) (string, bool) { return "", false }))
	if n, _ := d.Len(ctx); n != 0 {
		t.Fatalf("Len after a deleting Update: %d", n)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
