package manager

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"
)

func TestRedisParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want redisConfig
	}{
		{"redis://h", redisConfig{addr: "h:6379", host: "h", name: "shmkit"}},
		{"redis://h:7000/3?name=app", redisConfig{addr: "h:7000", host: "h", db: 3, name: "app"}},
		{"redis://:pw@h:1/", redisConfig{addr: "h:1", host: "h", password: "pw", name: "shmkit"}},
		{"redis://user:pw@h/0", redisConfig{addr: "h:6379", host: "h", user: "user", password: "pw", name: "shmkit"}},
		{"rediss://[::1]:6380/15?name=a%3Ab", redisConfig{addr: "[::1]:6380", host: "::1", db: 15, tls: true, name: "a:b"}},
		{"REDIS://h", redisConfig{addr: "h:6379", host: "h", name: "shmkit"}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseRedisURL(u)
		if err != nil || got != tc.want {
			t.Errorf("parseRedisURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
}

// testRedisURL is the test server's URL, which TestMain (in the external
// test package) puts in the environment.
func testRedisURL(t *testing.T) string {
	u := os.Getenv("SHMKIT_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("SHMKIT_REQUIRE_REDIS") != "" {
			t.Fatal("Redis required (SHMKIT_REQUIRE_REDIS set) but no test server")
		}
		t.Skip("no Redis test server")
	}
	return u
}

// Each holder of a Lock gets a greater fencing number, and its lock value
// is "FENCE:HOLDER".
func TestRedisLockFence(t *testing.T) {
	u := testRedisURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := fmt.Sprintf("%s?name=fence-%d-%d", u, os.Getpid(), time.Now().UnixNano())
	m1, err := Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Destroy(ctx)
	m2, err := Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	b1, b2 := m1.b.(*redisBackend), m2.b.(*redisBackend)
	l1, err := OpenLock(ctx, m1, "l")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := OpenLock(ctx, m2, "l")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b1.lockFence("l"); ok {
		t.Fatal("a fence before Lock")
	}
	last := int64(0)
	for i, step := range []struct {
		l *Lock
		b *redisBackend
	}{{l1, b1}, {l2, b2}, {l1, b1}, {l1, b1}, {l2, b2}} {
		if err := step.l.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		f, ok := step.b.lockFence("l")
		if !ok || f <= last {
			t.Fatalf("holder %d: fence %d %v after %d", i, f, ok, last)
		}
		last = f
		v, err := step.b.c.Get(ctx, step.b.key(keyLock, "l")).Result()
		if want := fmt.Sprintf("%d:%s", f, step.b.id); v != want || err != nil {
			t.Fatalf("lock value %q %v, want %q", v, err, want)
		}
		if err := step.l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := step.b.lockFence("l"); ok {
			t.Fatal("a fence after Unlock")
		}
	}
}
