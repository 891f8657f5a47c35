package manager

// # The Redis backend
//
// A manager opened with a redis:// or rediss:// URL keeps its objects in a
// Redis server (6.2 or later), so processes on several hosts share them.
// Redis Cluster, Sentinel and custom pools work through a go-redis client
// passed in Options.Redis. Values go through the manager's codec (JSON
// unless Options.Codec says otherwise), so programs in other languages can
// read them.
//
// Key layout. Every key of the manager NAME (the URL's ?name=, default
// "shmkit") starts with the hash tag {shmkit:NAME}, so all of them live in
// one cluster slot and every script and transaction touches one slot:
//
//	{shmkit:NAME}:registry      hash   object name -> kind ("Dict", "Queue", ...)
//	{shmkit:NAME}:dict:OBJ      hash   a Dict or Namespace: key -> value
//	{shmkit:NAME}:list:OBJ      list   a List
//	{shmkit:NAME}:queue:OBJ     list   a Queue, head first
//	{shmkit:NAME}:lock:OBJ      string a held Lock: "FENCE:HOLDER", with a lease (PX)
//	{shmkit:NAME}:lockfence:OBJ string the Lock's fencing counter (INCR)
//	{shmkit:NAME}:lockwake:OBJ  list   a wake-up token Unlock leaves for a waiter
//	{shmkit:NAME}:event:OBJ     string "1" while the Event is set
//	{shmkit:NAME}:sem:OBJ       list   one token per free Semaphore unit
//
// and the pub/sub channel {shmkit:NAME}:eventch:OBJ carries Event.Set
// wake-ups. An object name is the rest of the key after the type, so names
// may hold any character. The registry makes a name hold one kind
// (ErrKind), and lists the objects Destroy deletes.
//
// Waiting. Nothing polls. Queue.Get, Semaphore.Acquire and a Lock waiting
// for its wake-up token (or for the holder's lease to run out) pop a list:
// LPOP first, then, if the list is empty, BLPOP. The goroutines of one
// process waiting on one list share one BLPOP, which hands elements out
// first come, first served, so ten thousand waiters cost one connection.
// Event.Wait subscribes to the event's channel on one pub/sub connection
// per manager, then checks the state, and wakes on the message Set
// publishes. Each BLPOP is bounded on the server (at most a second, less
// when every waiter has an earlier deadline), so an idle waiter costs the
// server about one command a second (Event.Wait: none), and the client
// never abandons a BLPOP the server may still be executing: a waiter whose
// ctx ends leaves at once with ctx.Err(), and an element that a BLPOP takes
// when nobody is left waiting is pushed back at the head of its list. A
// cancelled Get never loses an item (the item may come out after one that
// another process took meanwhile).
//
// Dict.Update reads the value, runs fn in Go, and writes the result with a
// compare-and-set script that fails if the value changed meanwhile; it
// then retries (so fn may run several times).
//
// Locks. A Lock is a key set with SET NX PX: its value is a fencing number
// (INCR, strictly increasing over the Lock's life) and the holder's random
// id. While it is held, a goroutine renews the lease every third of it, if
// the value is still the holder's. Unlock deletes the key only if the
// value is still its own, and returns ErrNotHeld otherwise (the lease ran
// out, and perhaps another holder took the lock). Options.LockLease sets
// the lease (10 s by default). The lock is the manager's: any of its
// goroutines may unlock it. Close releases the locks the manager holds.
//
// What survives a crashed process: everything it committed (every call
// that returned). A Lock it held frees when its lease runs out. A Queue
// item or Semaphore unit that a pop handed to it is gone with it: an item
// Get returned, or was returning, is lost, and a Semaphore unit it had
// acquired is never released (as with Python's managers). The server holds
// nothing else on its behalf.
//
// Caveats. Close waits for a BLPOP in flight, up to a second. A waited-on
// Event keeps its channel subscribed until Close. A client passed in
// Options.Redis should keep its ReadTimeout above a second or disable it
// (the default 5 s is fine); with a shorter one, waits take shorter BLPOPs.
// go-redis retries a command after some network errors, so a write whose
// reply was lost may apply twice. Destroy deletes the keys of the objects
// in the registry; a process still using a destroyed manager makes its
// keys anew.

import (
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	redisDefaultName  = "shmkit"
	redisDefaultPort  = "6379"
	redisDefaultLease = 10 * time.Second
	// redisBlockMax bounds each blocking command on the server.
	redisBlockMax = time.Second
	// redisMaxSemaphore bounds a Semaphore's initial count: the count is a
	// list of tokens, written by one script.
	redisMaxSemaphore = 1 << 20
)

// Key types: the segment after the hash tag. None holds a ':'.
const (
	keyDict      = "dict"
	keyList      = "list"
	keyQueue     = "queue"
	keyLock      = "lock"
	keyLockFence = "lockfence"
	keyLockWake  = "lockwake"
	keyEvent     = "event"
	keySem       = "sem"
	chanEvent    = "eventch"
)

// objectKeyTypes are the key types one object may own; Destroy deletes
// them all for every registered name.
var objectKeyTypes = []string{keyDict, keyList, keyQueue, keyLock, keyLockFence, keyLockWake, keyEvent, keySem}

// redisConfig is what a redis:// URL says.
type redisConfig struct {
	addr     string // host:port
	host     string
	user     string
	password string
	db       int
	tls      bool
	name     string // the manager's name, from ?name=
}

// parseRedisURL checks u, a redis:// or rediss:// URL, and reads it.
func parseRedisURL(u *url.URL) (redisConfig, error) {
	safe := u.Redacted()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrURL, safe, fmt.Sprintf(format, args...))
	}
	var c redisConfig
	switch strings.ToLower(u.Scheme) {
	case "redis":
	case "rediss":
		c.tls = true
	default:
		return c, bad("scheme %q is not redis or rediss", u.Scheme)
	}
	if u.Opaque != "" {
		return c, bad("want %s://[:PASSWORD@]HOST:PORT/DB", u.Scheme)
	}
	if u.Fragment != "" {
		return c, bad("unexpected fragment #%s", u.Fragment)
	}
	c.host = u.Hostname()
	port := u.Port()
	switch {
	case port == "" && strings.HasSuffix(u.Host, ":"):
		return c, bad("empty port")
	case port == "":
		port = redisDefaultPort
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return c, bad("bad port %q (want 1-65535)", port)
		}
	}
	if c.host != "" {
		c.addr = net.JoinHostPort(c.host, port)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strings.HasPrefix(db, "+") {
			return c, bad("bad DB number %q (want /0, /1, ...)", db)
		}
		c.db = n
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.password, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, bad("bad query: %v", err)
	}
	c.name = redisDefaultName
	for k, vs := range q {
		if k != "name" {
			return c, bad("unknown query parameter %q (only name is known)", k)
		}
		if len(vs) != 1 {
			return c, bad("name given %d times", len(vs))
		}
		c.name = vs[0]
	}
	if c.name == "" {
		return c, bad("empty name")
	}
	if strings.ContainsAny(c.name, "{}") {
		return c, bad("name %q holds a brace (it becomes a cluster hash tag)", c.name)
	}
	return c, nil
}

// redisBackend keeps a manager's objects in Redis. See the comment at the
// top of this file.
type redisBackend struct {
	c        redis.UniversalClient
	own      bool   // c was made by openRedis, so close closes it
	prefix   string // "{shmkit:NAME}:"
	registry string // the registry's key
	id       string // random id of this manager, in its lock values
	lease    time.Duration
	fracMax  time.Duration // longest sub-second BLPOP the client's read timeout allows

	closed  atomic.Bool
	mu      sync.Mutex // guards locks, poppers, and wg.Add against close
	locks   map[string]*heldLock
	poppers map[string]*popper // by list key
	wg      sync.WaitGroup     // poppers and lease renewers
	events  eventHub
}

// openRedis opens the Redis backend.
func openRedis(ctx context.Context, u *url.URL, opts *Options) (backend, error) {
	cfg, err := parseRedisURL(u)
	if err != nil {
		return nil, err
	}
	b := &redisBackend{
		c:       opts.Redis,
		prefix:  "{shmkit:" + cfg.name + "}:",
		lease:   opts.LockLease,
		fracMax: redisBlockMax,
		locks:   map[string]*heldLock{},
		poppers: map[string]*popper{},
	}
	b.registry = b.prefix + "registry"
	b.events.init(b)
	if b.lease <= 0 {
		b.lease = redisDefaultLease
	}
	if b.lease < 3*time.Millisecond {
		return nil, fmt.Errorf("manager: redis: LockLease %v is too short", opts.LockLease)
	}
	var id [8]byte
	_, _ = crand.Read(id[:])
	b.id = hex.EncodeToString(id[:])
	if b.c == nil {
		if cfg.addr == "" {
			return nil, fmt.Errorf("%w: %s: no host", ErrURL, u.Redacted())
		}
		ro := &redis.Options{
			Addr:     cfg.addr,
			Username: cfg.user,
			Password: cfg.password,
			DB:       cfg.db,
			// ctx deadlines bound ordinary commands; blocking ones are
			// bounded on the server and never cut short (redis_wait.go).
			ContextTimeoutEnabled: true,
		}
		if cfg.tls {
			ro.TLSConfig = &tls.Config{ServerName: cfg.host, MinVersion: tls.VersionTLS12}
		}
		b.c = redis.NewClient(ro)
		b.own = true
	}
	if rt := clientReadTimeout(b.c); rt > 0 && rt < 2*redisBlockMax {
		b.fracMax = rt / 2
	}
	if err := b.c.Ping(ctx).Err(); err != nil {
		if b.own {
			_ = b.c.Close()
		}
		return nil, fmt.Errorf("manager: redis %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// clientReadTimeout is c's socket read timeout, or 0 if unknown or none.
func clientReadTimeout(c redis.UniversalClient) time.Duration {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ReadTimeout
	case *redis.ClusterClient:
		return c.Options().ReadTimeout
	case *redis.Ring:
		return c.Options().ReadTimeout
	}
	return 0
}

func (b *redisBackend) key(typ, obj string) string { return b.prefix + typ + ":" + obj }

func (b *redisBackend) rawValues() bool { return false }

// live returns ErrClosed once the manager is closed: a client passed in
// Options.Redis outlives it.
func (b *redisBackend) live() error {
	if b.closed.Load() {
		return ErrClosed
	}
	return nil
}

// fail wraps err, from operation op on object obj, for the caller.
func (b *redisBackend) fail(ctx context.Context, op, obj string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr // a command cut short by ctx may report a timeout instead
	}
	switch {
	case errors.Is(err, ErrClosed), errors.Is(err, redis.ErrClosed):
		err = ErrClosed
	case strings.HasPrefix(err.Error(), "WRONGTYPE"):
		err = fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return fmt.Errorf("manager: redis %s %q: %w", op, obj, err)
}

// Lua scripts. Each touches only the keys it is passed, all of one slot.
var (
	// registerScript registers ARGV[1] as kind ARGV[2] in the registry
	// KEYS[1] and fills the semaphore KEYS[2] with ARGV[3] tokens; it
	// returns "" or the kind the name already has.
	registerScript = redis.NewScript(`
local k = redis.call('HGET', KEYS[1], ARGV[1])
if k then
	if k == ARGV[2] then return '' end
	return k
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local n = tonumber(ARGV[3])
local batch = {}
for i = 1, math.min(n, 1000) do batch[i] = '1' end
while n > 0 do
	local m = math.min(n, 1000)
	redis.call('RPUSH', KEYS[2], unpack(batch, 1, m))
	n = n - m
end
return ''`)

	// casScript sets field ARGV[1] of hash KEYS[1] to ARGV[5] (or deletes
	// it when ARGV[4] is not "1") if its value is still as read: absent
	// (ARGV[2] "absent"), equal to ARGV[3] ("eq"), or with SHA-1 ARGV[3]
	// ("sha1"). It returns 1 if it wrote, 0 if the value had changed.
	casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local mode = ARGV[2]
if mode == 'absent' then
	if cur then return 0 end
elseif not cur then
	return 0
elseif mode == 'eq' then
	if cur ~= ARGV[3] then return 0 end
elseif redis.sha1hex(cur) ~= ARGV[3] then
	return 0
end
if ARGV[4] == '1' then
	redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
else
	redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1`)
)

func (b *redisBackend) open(ctx context.Context, k kind, obj string, n int) error {
	if err := b.live(); err != nil {
		return err
	}
	if k != kindSemaphore {
		n = 0
	}
	if n > redisMaxSemaphore {
		return fmt.Errorf("manager: redis: Semaphore %q: count %d above the maximum %d", obj, n, redisMaxSemaphore)
	}
	other, err := registerScript.Run(ctx, b.c, []string{b.registry, b.key(keySem, obj)}, obj, k.String(), n).Text()
	if err != nil {
		return b.fail(ctx, "open "+k.String(), obj, err)
	}
	if other != "" {
		return fmt.Errorf("manager: redis: %q is a %s, not a %v: %w", obj, other, k, ErrKind)
	}
	return nil
}

func (b *redisBackend) close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	b.mu.Lock() // no wg.Add after this
	held := b.locks
	b.locks = nil
	for _, p := range b.poppers {
		for p.serve(popResult{err: ErrClosed}) {
		}
	}
	b.mu.Unlock()
	var errs []error
	for obj, h := range held {
		ctx, cancel := context.WithTimeout(context.Background(), b.lease)
		if _, err := b.release(ctx, h); err != nil {
			errs = append(errs, fmt.Errorf("manager: redis close: releasing Lock %q: %w", obj, err))
		}
		cancel()
	}
	b.events.close()
	b.wg.Wait()
	if b.own {
		if err := b.c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("manager: redis close: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (b *redisBackend) destroy(ctx context.Context) error {
	if err := b.live(); err != nil {
		return err
	}
	for {
		err := b.c.Watch(ctx, func(tx *redis.Tx) error {
			objs, err := tx.HKeys(ctx, b.registry).Result()
			if err != nil {
				return err
			}
			keys := make([]string, 0, 1+len(objs)*len(objectKeyTypes))
			keys = append(keys, b.registry)
			for _, o := range objs {
				for _, t := range objectKeyTypes {
					keys = append(keys, b.key(t, o))
				}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for len(keys) > 0 {
					n := min(len(keys), 1000)
					p.Del(ctx, keys[:n]...)
					keys = keys[n:]
				}
				return nil
			})
			return err
		}, b.registry)
		if errors.Is(err, redis.TxFailedErr) {
			continue // an object was opened meanwhile
		}
		if err != nil {
			return b.fail(ctx, "destroy", b.prefix, err)
		}
		return nil
	}
}

// Dict and Namespace: a hash.

func (b *redisBackend) dictGet(ctx context.Context, obj string, key []byte) ([]byte, bool, error) {
	if err := b.live(); err != nil {
		return nil, false, err
	}
	v, err := b.c.HGet(ctx, b.key(keyDict, obj), string(key)).Bytes()
	if err == redis.Nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, b.fail(ctx, "get", obj, err)
	}
	return v, true, nil
}

func (b *redisBackend) dictSet(ctx context.Context, obj string, key, val []byte) error {
	if err := b.live(); err != nil {
		return err
	}
	if err := b.c.HSet(ctx, b.key(keyDict, obj), key, val).Err(); err != nil {
		return b.fail(ctx, "set", obj, err)
	}
	return nil
}

func (b *redisBackend) dictDelete(ctx context.Context, obj string, key []byte) (bool, error) {
	if err := b.live(); err != nil {
		return false, err
	}
	n, err := b.c.HDel(ctx, b.key(keyDict, obj), string(key)).Result()
	if err != nil {
		return false, b.fail(ctx, "delete", obj, err)
	}
	return n > 0, nil
}

// casInline is the longest old value casScript compares as it is; longer
// ones are compared by SHA-1, so a retry does not send them back.
const casInline = 64

func (b *redisBackend) dictUpdate(ctx context.Context, obj string, key []byte, fn func(old []byte, found bool) (val []byte, keep bool)) error {
	if err := b.live(); err != nil {
		return err
	}
	hk := b.key(keyDict, obj)
	for attempt := 0; ; attempt++ {
		old, found, err := b.dictGet(ctx, obj, key)
		if err != nil {
			return err
		}
		val, keep := fn(old, found)
		if !found && !keep || found && keep && string(val) == string(old) {
			return nil // nothing to write: the read is the update
		}
		mode, want := "absent", ""
		switch {
		case !found:
		case len(old) <= casInline:
			mode, want = "eq", string(old)
		default:
			sum := sha1.Sum(old)
			mode, want = "sha1", hex.EncodeToString(sum[:])
		}
		keepArg := "0"
		if keep {
			keepArg = "1"
		}
		n, err := casScript.Run(ctx, b.c, []string{hk}, key, mode, want, keepArg, val).Int()
		if err != nil {
			return b.fail(ctx, "update", obj, err)
		}
		if n == 1 {
			return nil
		}
		if err := contendedBackoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// contendedBackoff waits a little after a lost compare-and-set, longer
// after each of several in a row, so that contenders spread out.
func contendedBackoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	limit := time.Duration(50<<min(attempt-2, 8)) * time.Microsecond // up to 12.8 ms
	t := time.NewTimer(rand.N(limit) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *redisBackend) dictLen(ctx context.Context, obj string) (int, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	n, err := b.c.HLen(ctx, b.key(keyDict, obj)).Result()
	if err != nil {
		return 0, b.fail(ctx, "len", obj, err)
	}
	return int(n), nil
}

func (b *redisBackend) dictItems(ctx context.Context, obj string, yield func(key, val []byte) error) error {
	if err := b.live(); err != nil {
		return err
	}
	m, err := b.c.HGetAll(ctx, b.key(keyDict, obj)).Result()
	if err != nil {
		return b.fail(ctx, "items", obj, err)
	}
	for k, v := range m {
		if err := yield([]byte(k), []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

func (b *redisBackend) dictClear(ctx context.Context, obj string) error {
	if err := b.live(); err != nil {
		return err
	}
	if err := b.c.Del(ctx, b.key(keyDict, obj)).Err(); err != nil {
		return b.fail(ctx, "clear", obj, err)
	}
	return nil
}

// List: a list.

func (b *redisBackend) listAppend(ctx context.Context, obj string, vals [][]byte) error {
	if err := b.live(); err != nil {
		return err
	}
	if len(vals) == 0 {
		return nil
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	if err := b.c.RPush(ctx, b.key(keyList, obj), args...).Err(); err != nil {
		return b.fail(ctx, "append", obj, err)
	}
	return nil
}

func (b *redisBackend) listAt(ctx context.Context, obj string, i int) ([]byte, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	v, err := b.c.LIndex(ctx, b.key(keyList, obj), int64(i)).Bytes()
	if err == redis.Nil {
		return nil, fmt.Errorf("manager: redis List %q: index %d: %w", obj, i, ErrIndex)
	}
	if err != nil {
		return nil, b.fail(ctx, "at", obj, err)
	}
	return v, nil
}

func (b *redisBackend) listSet(ctx context.Context, obj string, i int, val []byte) error {
	if err := b.live(); err != nil {
		return err
	}
	err := b.c.LSet(ctx, b.key(keyList, obj), int64(i), val).Err()
	if err != nil {
		// An index past either end, or an empty list (no key).
		if msg := err.Error(); strings.Contains(msg, "index out of range") || strings.Contains(msg, "no such key") {
			return fmt.Errorf("manager: redis List %q: index %d: %w", obj, i, ErrIndex)
		}
		return b.fail(ctx, "set", obj, err)
	}
	return nil
}

func (b *redisBackend) listPop(ctx context.Context, obj string) ([]byte, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	v, err := b.c.RPop(ctx, b.key(keyList, obj)).Bytes()
	if err == redis.Nil {
		return nil, fmt.Errorf("manager: redis List %q: pop from empty list: %w", obj, ErrIndex)
	}
	if err != nil {
		return nil, b.fail(ctx, "pop", obj, err)
	}
	return v, nil
}

func (b *redisBackend) listLen(ctx context.Context, obj string) (int, error) {
	return b.llen(ctx, "len", obj, keyList)
}

func (b *redisBackend) llen(ctx context.Context, op, obj, typ string) (int, error) {
	if err := b.live(); err != nil {
		return 0, err
	}
	n, err := b.c.LLen(ctx, b.key(typ, obj)).Result()
	if err != nil {
		return 0, b.fail(ctx, op, obj, err)
	}
	return int(n), nil
}

func (b *redisBackend) listItems(ctx context.Context, obj string, yield func(val []byte) error) error {
	if err := b.live(); err != nil {
		return err
	}
	vs, err := b.c.LRange(ctx, b.key(keyList, obj), 0, -1).Result()
	if err != nil {
		return b.fail(ctx, "items", obj, err)
	}
	for _, v := range vs {
		if err := yield([]byte(v)); err != nil {
			return err
		}
	}
	return nil
}
