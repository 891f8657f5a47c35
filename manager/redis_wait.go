package manager

import (
	"container/list"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Blocking pops: Queue.Get, Semaphore.Acquire, and Lock's wait for a
// wake-up token.
//
// A pop first tries LPOP, unless goroutines of this process already wait
// on the list. Then the goroutines of one process that wait on the same
// list share one popper: a goroutine that runs BLPOP on the list while anyone waits, and
// hands each element to the longest waiting goroutine (then pops, without
// blocking, up to one more element per other waiter). So waiting costs one
// connection per list, not per goroutine, and ten thousand waiters don't
// drain the connection pool.
//
// A BLPOP the client gives up on while the server still runs it would
// lose the element the server pops next: the server writes it to a
// connection nobody reads. So no BLPOP here is ever cut short: each has a
// server-side timeout of at most redisBlockMax (less when every waiter has
// an earlier deadline), and its context cannot be cancelled. A waiter whose
// ctx ends just leaves the line and returns ctx.Err() at once; an element
// the popper takes when nobody is left in line is pushed back at the head
// of its list (so it may come out after an element another process took
// meanwhile).

// popBatch bounds the elements one popper round takes.
const popBatch = 100

// putBackScript pushes ARGV[2], ARGV[3], ... back at the head of list
// KEYS[2], the first at the very head, if object ARGV[1] is still in the
// registry KEYS[1] (not destroyed).
var putBackScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = #ARGV, 2, -1 do
	redis.call('LPUSH', KEYS[2], ARGV[i])
end
return 1`)

// popResult is what a popper hands a waiter: an element or an error.
type popResult struct {
	val []byte
	err error
}

// popWaiter is a goroutine waiting for an element.
type popWaiter struct {
	ch       chan popResult // buffered: receives one result
	deadline time.Time      // when it stops waiting; zero: when its ctx is cancelled
	elem     *list.Element  // its place in line; nil once served or gone
}

// popper pops list key of object obj for the waiters of this process.
type popper struct {
	obj, key string
	line     list.List // of *popWaiter, longest waiting first
}

// serve hands r to the first waiter in line; b.mu is held.
func (p *popper) serve(r popResult) bool {
	e := p.line.Front()
	if e == nil {
		return false
	}
	w := p.line.Remove(e).(*popWaiter)
	w.elem = nil
	w.ch <- r
	return true
}

// pop takes the head of list key of object obj, waiting until ctx ends or,
// if until is not zero, until then: ok is false if until came first.
func (b *redisBackend) pop(ctx context.Context, obj, key string, until time.Time) (val []byte, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	b.mu.Lock()
	idle := b.poppers[key] == nil
	b.mu.Unlock()
	if idle {
		// Nobody here waits on the list: try it at once, without the
		// popper's hand-offs. Not cut short by ctx, as BLPOP.
		v, err := b.c.LPop(context.WithoutCancel(ctx), key).Bytes()
		if err == nil {
			return v, true, nil
		}
		if err != redis.Nil {
			return nil, false, b.fail(ctx, "pop", obj, err)
		}
	}
	w := &popWaiter{ch: make(chan popResult, 1), deadline: until}
	if dl, has := ctx.Deadline(); has && (until.IsZero() || dl.Before(until)) {
		w.deadline = dl
	}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return nil, false, ErrClosed
	}
	p := b.poppers[key]
	if p == nil {
		p = &popper{obj: obj, key: key}
		b.poppers[key] = p
		b.wg.Add(1)
		go b.runPopper(p)
	}
	w.elem = p.line.PushBack(w)
	b.mu.Unlock()

	var timeout <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case r := <-w.ch:
		return r.val, r.err == nil, r.err
	case <-ctx.Done():
	case <-timeout:
	}
	b.mu.Lock()
	if w.elem == nil { // served meanwhile: keep it
		b.mu.Unlock()
		r := <-w.ch
		return r.val, r.err == nil, r.err
	}
	p.line.Remove(w.elem)
	w.elem = nil
	b.mu.Unlock()
	return nil, false, ctx.Err()
}

// runPopper pops p's list while anyone waits in line.
func (b *redisBackend) runPopper(p *popper) {
	defer b.wg.Done()
	ctx := context.Background()
	for {
		b.mu.Lock()
		n := p.line.Len()
		if n == 0 || b.closed.Load() {
			for p.serve(popResult{err: ErrClosed}) {
			}
			delete(b.poppers, p.key)
			b.mu.Unlock()
			return
		}
		// Block no longer than the last waiter's deadline, if all have one.
		var last time.Time
		for e := p.line.Front(); e != nil; e = e.Next() {
			dl := e.Value.(*popWaiter).deadline
			if dl.IsZero() {
				last = time.Time{}
				break
			}
			if dl.After(last) {
				last = dl
			}
		}
		b.mu.Unlock()
		d := redisBlockMax
		if !last.IsZero() {
			d = max(min(d, time.Until(last)), time.Millisecond)
		}
		vals, err := b.popSome(ctx, p.key, d, min(n, popBatch))
		var rest [][]byte
		b.mu.Lock()
		if err != nil {
			err = b.fail(ctx, "pop", p.obj, err)
			for p.serve(popResult{err: err}) {
			}
		}
		for i, v := range vals {
			if !p.serve(popResult{val: v}) {
				rest = vals[i:]
				break
			}
		}
		b.mu.Unlock()
		if len(rest) > 0 {
			b.putBack(p.obj, p.key, rest)
		}
	}
}

// popSome pops the head of list key, letting the server wait up to d
// (> 0), and then up to n-1 more without waiting. It returns no elements
// when d passed with nothing to pop.
func (b *redisBackend) popSome(ctx context.Context, key string, d time.Duration, n int) ([][]byte, error) {
	var cmd *redis.StringSliceCmd
	if d >= time.Second {
		// go-redis's BLPop takes whole seconds and allows for them in its
		// read timeout.
		cmd = b.c.BLPop(ctx, d.Truncate(time.Second), key)
	} else {
		// Sub-second timeouts go through a plain command, read with the
		// client's read timeout: fracMax stays below it.
		ms := max(min(d, b.fracMax).Milliseconds(), 1)
		cmd = redis.NewStringSliceCmd(ctx, "blpop", key, strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64))
		_ = b.c.Process(ctx, cmd)
	}
	v, err := cmd.Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(v) != 2 {
		return nil, fmt.Errorf("%w: BLPOP replied with %d elements", ErrCorrupt, len(v))
	}
	vals := [][]byte{[]byte(v[1])}
	if n > 1 {
		// An error here leaves the elements where they are.
		more, _ := b.c.LPopCount(ctx, key, n-1).Result()
		for _, m := range more {
			vals = append(vals, []byte(m))
		}
	}
	return vals, nil
}

// putBack pushes vals back at the head of list key of object obj, in
// order, unless obj was destroyed.
func (b *redisBackend) putBack(obj, key string, vals [][]byte) {
	args := make([]any, 0, 1+len(vals))
	args = append(args, obj)
	for _, v := range vals {
		args = append(args, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A failure here (the server away for a minute) loses vals, as a
	// crash of this process would.
	_ = putBackScript.Run(ctx, b.c, []string{b.registry, key}, args...).Err()
}

// popWait pops the head of list key of object obj, waiting until ctx ends.
func (b *redisBackend) popWait(ctx context.Context, obj, key string) ([]byte, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	v, _, err := b.pop(ctx, obj, key, time.Time{})
	return v, err
}

// Queue: a list; Put appends at the tail, Get pops the head.

func (b *redisBackend) queuePut(ctx context.Context, obj string, val []byte) error {
	if err := b.live(); err != nil {
		return err
	}
	if err := b.c.RPush(ctx, b.key(keyQueue, obj), val).Err(); err != nil {
		return b.fail(ctx, "put", obj, err)
	}
	return nil
}

func (b *redisBackend) queueGet(ctx context.Context, obj string) ([]byte, error) {
	return b.popWait(ctx, obj, b.key(keyQueue, obj))
}

func (b *redisBackend) queueLen(ctx context.Context, obj string) (int, error) {
	return b.llen(ctx, "len", obj, keyQueue)
}

// Semaphore: a list of tokens, one per free unit (filled by open).

func (b *redisBackend) semAcquire(ctx context.Context, obj string) error {
	_, err := b.popWait(ctx, obj, b.key(keySem, obj))
	return err
}

func (b *redisBackend) semRelease(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	if err := b.c.RPush(ctx, b.key(keySem, obj), "1").Err(); err != nil {
		return b.fail(ctx, "release", obj, err)
	}
	return nil
}
