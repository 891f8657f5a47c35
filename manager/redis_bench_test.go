package manager_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shmkit/shmkit/manager"
)

// The Redis Dict against go-redis on the same server in the same run: the
// baseline is HGET/HSET of the same field and value size with a client
// configured like the manager's. Manager and Raw run separately (for
// benchstat); Interleaved alternates the two in one loop, so both see the
// same server and machine state, and reports the manager's overhead.

func BenchmarkRedisDict(b *testing.B) {
	url, _ := redisManager(b)
	ctx := context.Background()
	m := openRedis(b, url, nil)
	d, err := manager.OpenDict[string, int64](ctx, m, "bench")
	must(b, err)
	must(b, d.Set(ctx, "k", 1234567))

	o, err := redis.ParseURL(redisURL)
	must(b, err)
	o.ContextTimeoutEnabled = true // as the manager's own client
	rc := redis.NewClient(o)
	defer rc.Close()
	rawKey := "{shmkit-bench-raw}:h"
	defer rc.Del(ctx, rawKey)
	must(b, rc.HSet(ctx, rawKey, "k", "1234567").Err())

	ops := []struct {
		name     string
		mgr, raw func() error
	}{
		{"Get",
			func() error { _, _, err := d.Get(ctx, "k"); return err },
			func() error { _, err := rc.HGet(ctx, rawKey, "k").Bytes(); return err }},
		{"Set",
			func() error { return d.Set(ctx, "k", 1234567) },
			func() error { return rc.HSet(ctx, rawKey, "k", "1234567").Err() }},
	}
	for _, op := range ops {
		b.Run(op.name+"/Manager", func(b *testing.B) { loop(b, op.mgr) })
		b.Run(op.name+"/Raw", func(b *testing.B) { loop(b, op.raw) })
		b.Run(op.name+"/Interleaved", func(b *testing.B) {
			var tm, tr time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := op.mgr(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := op.raw(); err != nil {
					b.Fatal(err)
				}
				tm += t1.Sub(t0)
				tr += time.Since(t1)
			}
			b.ReportMetric(float64(tm.Nanoseconds())/float64(b.N), "ns/manager-op")
			b.ReportMetric(float64(tr.Nanoseconds())/float64(b.N), "ns/raw-op")
			b.ReportMetric(100*(float64(tm)/float64(tr)-1), "%overhead")
		})
	}
	// Many goroutines at once: throughput through the connection pool.
	b.Run("Get/Manager/Parallel", func(b *testing.B) { parallel(b, ops[0].mgr) })
	b.Run("Get/Raw/Parallel", func(b *testing.B) { parallel(b, ops[0].raw) })
}

func loop(b *testing.B, op func() error) {
	b.ReportAllocs()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

func parallel(b *testing.B, op func() error) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Queue round trips: Put then Get by one goroutine, and a hand-off from a
// producer to a blocked consumer.
func BenchmarkRedisQueue(b *testing.B) {
	url, _ := redisManager(b)
	ctx := context.Background()
	m := openRedis(b, url, nil)
	q, err := manager.OpenQueue[int64](ctx, m, "bench")
	must(b, err)
	b.Run("PutGet", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(b, q.Put(ctx, 1))
			if _, err := q.Get(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("HandOff", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan error, 1)
		n := b.N
		go func() {
			for range n {
				if _, err := q.Get(ctx); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := range n {
			must(b, q.Put(ctx, int64(i)))
		}
		must(b, <-done)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
	})
}

// Lock then Unlock, uncontended.
func BenchmarkRedisLock(b *testing.B) {
	url, _ := redisManager(b)
	ctx := context.Background()
	m := openRedis(b, url, nil)
	l, err := manager.OpenLock(ctx, m, "bench")
	must(b, err)
	b.ReportAllocs()
	for b.Loop() {
		must(b, l.Lock(ctx))
		must(b, l.Unlock(ctx))
	}
}

// Update: read-modify-write with the compare-and-set script.
func BenchmarkRedisDictUpdate(b *testing.B) {
	url, _ := redisManager(b)
	ctx := context.Background()
	m := openRedis(b, url, nil)
	d, err := manager.OpenDict[string, int64](ctx, m, "bench")
	must(b, err)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		must(b, d.Update(ctx, "k"+strconv.Itoa(i%16), func(old int64, _ bool) (int64, bool) { return old + 1, true }))
	}
}
