package manager

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis Event is the key event:OBJ, "1" while set. Set writes it and
// publishes on the channel eventch:OBJ in one script; Wait subscribes to
// the channel, and only once the server has confirmed the subscription
// checks the key, so a Set after the check is a message it receives.
//
// One pub/sub connection per manager carries every subscription (the
// eventHub); a channel stays subscribed, once waited on, until Close.
// go-redis re-subscribes after a lost connection; each confirmation wakes
// the channel's waiters to check the key again, since a Set may have
// happened while the connection was down.

// eventSetScript sets event KEYS[1] and publishes on channel ARGV[1].
var eventSetScript = redis.NewScript(`
redis.call('SET', KEYS[1], '1')
redis.call('PUBLISH', ARGV[1], '1')
return 1`)

// eventHub routes a manager's pub/sub messages to its Event waiters.
type eventHub struct {
	b      *redisBackend
	mu     sync.Mutex
	ps     *redis.PubSub // nil until the first Wait
	chans  map[string]*eventChan
	done   chan struct{} // closed by close
	closed bool
	loop   sync.WaitGroup // the receiver
}

// eventChan is one subscribed channel.
type eventChan struct {
	ready     chan struct{} // closed when the server confirmed the subscription
	confirmed bool
	wake      chan struct{} // closed, and replaced, on each message or confirmation
	sets      uint64        // messages received: each is one Set
}

func (h *eventHub) init(b *redisBackend) {
	h.b = b
	h.chans = map[string]*eventChan{}
	h.done = make(chan struct{})
}

// watch subscribes to channel ch, if not yet, and waits for the server to
// confirm it.
func (h *eventHub) watch(ctx context.Context, ch string) (*eventChan, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if h.ps == nil {
		h.ps = h.b.c.Subscribe(context.Background())
		h.loop.Add(1)
		go h.receive(h.ps)
	}
	ec := h.chans[ch]
	fresh := ec == nil
	if fresh {
		ec = &eventChan{ready: make(chan struct{}), wake: make(chan struct{})}
		h.chans[ch] = ec
	}
	ps := h.ps
	h.mu.Unlock()
	if fresh {
		// Not cut short by ctx: go-redis records the channel even when
		// the command fails, and subscribes it again when it reconnects.
		if err := ps.Subscribe(context.WithoutCancel(ctx), ch); err != nil && !isClosedErr(err) {
			h.mu.Lock()
			if !ec.confirmed && h.chans[ch] == ec {
				delete(h.chans, ch) // the next waiter subscribes again
			}
			h.mu.Unlock()
			return nil, err
		}
	}
	select {
	case <-ec.ready:
		return ec, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.done:
		return nil, ErrClosed
	}
}

func isClosedErr(err error) bool { return errors.Is(err, redis.ErrClosed) }

// receive reads ps until it is closed.
func (h *eventHub) receive(ps *redis.PubSub) {
	defer h.loop.Done()
	ctx := context.Background()
	backoff := time.Duration(0)
	for {
		// A minute without traffic: ping, so that a dead connection is
		// noticed (go-redis then reconnects and re-subscribes).
		msg, err := ps.ReceiveTimeout(ctx, time.Minute)
		if err != nil {
			if h.isClosed() {
				return
			}
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				_ = ps.Ping(ctx)
				continue
			}
			// The connection failed; go-redis reconnects on the next
			// call. Don't spin while the server is away.
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-h.done:
				return
			}
			continue
		}
		backoff = 0
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.notify(m.Channel, false)
			}
		case *redis.Message:
			h.notify(m.Channel, true)
		}
	}
}

// notify wakes the waiters of channel ch: for a message (a Set) or a
// (re)confirmed subscription.
func (h *eventHub) notify(ch string, set bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ec := h.chans[ch]
	if ec == nil {
		return
	}
	if set {
		ec.sets++
	} else if !ec.confirmed {
		ec.confirmed = true
		close(ec.ready)
	}
	close(ec.wake)
	ec.wake = make(chan struct{})
}

func (h *eventHub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *eventHub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	ps := h.ps
	h.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		h.loop.Wait()
	}
}

func (b *redisBackend) eventSet(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	err := eventSetScript.Run(ctx, b.c, []string{b.key(keyEvent, obj)}, b.key(chanEvent, obj)).Err()
	if err != nil {
		return b.fail(ctx, "set", obj, err)
	}
	return nil
}

func (b *redisBackend) eventClear(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	if err := b.c.Del(ctx, b.key(keyEvent, obj)).Err(); err != nil {
		return b.fail(ctx, "clear", obj, err)
	}
	return nil
}

func (b *redisBackend) eventIsSet(ctx context.Context, obj string) (bool, error) {
	if err := b.live(); err != nil {
		return false, err
	}
	n, err := b.c.Exists(ctx, b.key(keyEvent, obj)).Result()
	if err != nil {
		return false, b.fail(ctx, "is set", obj, err)
	}
	return n == 1, nil
}

func (b *redisBackend) eventWait(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	ec, err := b.events.watch(ctx, b.key(chanEvent, obj))
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return err
		}
		return b.fail(ctx, "wait", obj, err)
	}
	h := &b.events
	for {
		h.mu.Lock()
		wake, sets := ec.wake, ec.sets
		h.mu.Unlock()
		set, err := b.eventIsSet(ctx, obj)
		if err != nil || set {
			return err
		}
		select {
		case <-wake:
			h.mu.Lock()
			seen := ec.sets != sets
			h.mu.Unlock()
			if seen {
				return nil // a Set since the check, perhaps already cleared
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-h.done:
			return ErrClosed
		}
	}
}
