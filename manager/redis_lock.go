package manager

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis Lock is the key lock:OBJ, present while held, whose value
// "FENCE:HOLDER" names the holder: FENCE is a fencing number from the
// counter lockfence:OBJ, strictly increasing over the Lock's life (a
// resource the lock guards can reject writes carrying an older one), and
// HOLDER is the holding manager's random id. The key has a lease (PX) that
// the holder's renewer extends every third of a lease while the value is
// still its own, so the lock of a holder that died frees when its lease
// runs out.
//
// A waiter tries to take the key; while it is held, the waiter blocks in
// BLPOP on lockwake:OBJ, a list of at most one token that Unlock pushes,
// for at most the holder's remaining lease, then tries again.

var (
	// lockAcquireScript takes lock KEYS[1] for holder ARGV[1] with lease
	// ARGV[2] ms, the fence from counter KEYS[2]: it returns {fence, 0}, or
	// {0, the holder's remaining lease in ms (-1: none)} if held.
	lockAcquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	return {0, redis.call('PTTL', KEYS[1])}
end
local f = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], f .. ':' .. ARGV[1], 'PX', ARGV[2])
return {f, 0}`)

	// lockRenewScript extends lock KEYS[1] to ARGV[2] ms if its value is
	// still ARGV[1]; it returns 1 if so, 0 if the lock is no longer ours.
	lockRenewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

	// lockReleaseScript deletes lock KEYS[1] if its value is ARGV[1] and
	// leaves one wake-up token in KEYS[2], kept ARGV[2] ms; it returns 1 if
	// so, 0 if the lock was not ours.
	lockReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('RPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], -1, -1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`)
)

// heldLock is a Lock this manager holds.
type heldLock struct {
	obj   string
	key   string // lock:OBJ
	wake  string // lockwake:OBJ
	value string // "FENCE:HOLDER"
	fence int64
	stop  chan struct{} // closed to stop the renewer
	done  chan struct{} // closed when the renewer has stopped
}

func (b *redisBackend) lock(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	key, fence, wake := b.key(keyLock, obj), b.key(keyLockFence, obj), b.key(keyLockWake, obj)
	var expiry time.Time // when the holder's lease runs out unless renewed; zero: unknown
	try := true
	for {
		if try {
			if err := ctx.Err(); err != nil {
				return err
			}
			// Not cut short by ctx, so that a lock taken is known taken.
			r, err := lockAcquireScript.Run(context.WithoutCancel(ctx), b.c, []string{key, fence},
				b.id, b.lease.Milliseconds()).Int64Slice()
			if err == nil && len(r) != 2 {
				err = fmt.Errorf("%w: lock script replied with %d values", ErrCorrupt, len(r))
			}
			if err != nil {
				return b.fail(ctx, "lock", obj, err)
			}
			if r[0] > 0 {
				return b.hold(obj, key, wake, r[0])
			}
			expiry = time.Time{}
			if r[1] >= 0 {
				expiry = time.Now().Add(time.Duration(r[1]) * time.Millisecond)
			}
		}
		// Wait for a wake-up token, or for the lease to run out: a holder
		// that died leaves no token. A lock without a lease (not set by
		// this package) is tried again every redisBlockMax.
		until := expiry
		if until.IsZero() {
			until = time.Now().Add(redisBlockMax)
		}
		_, woke, err := b.pop(ctx, obj, wake, until)
		if err != nil {
			return err
		}
		try = woke || !time.Now().Before(until)
	}
}

// hold records a lock just taken and starts renewing its lease.
func (b *redisBackend) hold(obj, key, wake string, fence int64) error {
	h := &heldLock{
		obj: obj, key: key, wake: wake,
		value: strconv.FormatInt(fence, 10) + ":" + b.id,
		fence: fence,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), b.lease)
		defer cancel()
		_, _ = b.release(ctx, h)
		return ErrClosed
	}
	old := b.locks[obj] // a hold whose lease ran out
	b.locks[obj] = h
	b.wg.Add(1)
	b.mu.Unlock()
	if old != nil {
		close(old.stop)
	}
	go b.renew(h)
	return nil
}

// renew extends h's lease every third of a lease until stopped or the
// lock is no longer h's. A failed attempt is retried soon: it may take
// until the lease runs out.
func (b *redisBackend) renew(h *heldLock) {
	defer b.wg.Done()
	defer close(h.done)
	renewed := time.Now() // the lease runs to renewed+lease, at least
	t := time.NewTimer(b.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		start := time.Now()
		deadline := renewed.Add(b.lease)
		if d := start.Add(b.lease / 3); deadline.Before(d) {
			deadline = d // the lease may have run out; the script will tell
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		n, err := lockRenewScript.Run(ctx, b.c, []string{h.key}, h.value, b.lease.Milliseconds()).Int()
		cancel()
		switch {
		case err == nil && n == 0:
			return // lost: Unlock will say so
		case err == nil:
			renewed = start
			t.Reset(max(b.lease/3-time.Since(start), 0))
		default:
			t.Reset(b.lease / 20)
		}
	}
}

// release stops h's renewer and deletes the lock if it is still h's.
func (b *redisBackend) release(ctx context.Context, h *heldLock) (bool, error) {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	n, err := lockReleaseScript.Run(context.WithoutCancel(ctx), b.c, []string{h.key, h.wake},
		h.value, b.lease.Milliseconds()).Int()
	return n == 1, err
}

func (b *redisBackend) unlock(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	b.mu.Lock()
	h := b.locks[obj]
	if h != nil {
		delete(b.locks, obj)
	}
	b.mu.Unlock()
	if h == nil {
		return fmt.Errorf("manager: redis unlock %q: %w", obj, ErrNotHeld)
	}
	ok, err := b.release(ctx, h)
	if err != nil {
		return b.fail(ctx, "unlock", obj, err)
	}
	if !ok {
		return fmt.Errorf("manager: redis unlock %q: the lease (fence %d) ran out before Unlock: %w", obj, h.fence, ErrNotHeld)
	}
	return nil
}

// lockFence returns the fencing number of the Lock obj if this manager
// holds it: strictly greater than that of every earlier holder, so a
// resource can refuse a holder whose lease ran out. (A candidate for
// (*Lock).Fence.)
func (b *redisBackend) lockFence(obj string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.locks[obj]; h != nil {
		return h.fence, true
	}
	return 0, false
}
