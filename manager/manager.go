package manager

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shmkit/shmkit/codec"
)

// Errors returned by this package, matched with errors.Is.
var (
	// ErrURL: the manager URL is malformed or names no supported backend.
	ErrURL = errors.New("manager: bad URL")
	// ErrKind: the name is taken by an object of another kind.
	ErrKind = errors.New("manager: name holds another kind of object")
	// ErrIndex: a List index is out of range (or Pop of an empty List).
	ErrIndex = errors.New("manager: index out of range")
	// ErrNoAttr: a Namespace has no such attribute.
	ErrNoAttr = errors.New("manager: no such attribute")
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("manager: closed")
	// ErrCorrupt: stored data is not what this package wrote (another
	// process scribbled on shared memory, or a foreign key in Redis).
	ErrCorrupt = errors.New("manager: corrupt data")
	// ErrNotHeld: Unlock of a Lock this manager does not hold (on Redis,
	// also when the lease expired and another holder took it).
	ErrNotHeld = errors.New("manager: lock not held")
)

// Options tune Open. A nil *Options means the zero value.
type Options struct {
	// Codec encodes values that are not fixed-size and pointer-free (and,
	// on Redis, all values). Zero means codec.Gob for shared memory and
	// codec.JSON for Redis, where other languages may read the data.
	Codec codec.Codec
	// Redis is a client to use instead of one made from the URL, for
	// clusters, sentinels or custom pools; the URL's host is then ignored
	// but its scheme must still be redis:// or rediss://. The Manager does
	// not close a client it was given.
	Redis redis.UniversalClient
	// LockLease is how long a Redis Lock is held before it expires if its
	// holder stops renewing it (a crashed holder). Zero means 10 seconds.
	LockLease time.Duration
	// Size is the size in bytes of each page of a shared-memory manager's
	// directory (more pages are added as objects are created; objects'
	// own segments grow as they fill). Zero means 1 MiB.
	Size int64
}

// Manager holds named shared objects in one backend.
type Manager struct {
	b     backend
	codec codec.Codec
	url   string

	mu     sync.Mutex
	closed bool
}

// Open opens (creating if needed) the manager at url:
//
//	shm:NAME                          objects in shared memory on this host,
//	                                  no server process; NAME is a segment
//	                                  name prefix
//	redis://[:PASSWORD@]HOST:PORT/DB  objects in a Redis server, shared
//	rediss://...                      across hosts (rediss: TLS)
//
// Every process that opens the same URL sees the same objects.
func Open(ctx context.Context, rawURL string, opts *Options) (*Manager, error) {
	if opts == nil {
		opts = &Options{}
	}
	scheme, rest, ok := strings.Cut(rawURL, ":")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no scheme (want shm:NAME or redis://HOST:PORT/DB)", ErrURL, rawURL)
	}
	var b backend
	var err error
	c := opts.Codec
	switch strings.ToLower(scheme) {
	case "shm":
		if c == nil {
			c = codec.Gob
		}
		b, err = openShm(ctx, rest, opts)
	case "redis", "rediss":
		if c == nil {
			c = codec.JSON
		}
		var u *url.URL
		if u, err = url.Parse(rawURL); err != nil {
			// A *url.Error repeats the URL, password and all: keep the reason.
			if ue := (*url.Error)(nil); errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("%w: %v", ErrURL, err)
		}
		b, err = openRedis(ctx, u, opts)
	default:
		return nil, fmt.Errorf("%w: unsupported scheme %q in %q (want shm: or redis://)", ErrURL, scheme, rawURL)
	}
	if err != nil {
		return nil, err
	}
	return &Manager{b: b, codec: c, url: rawURL}, nil
}

// URL is the URL the manager was opened with.
func (m *Manager) URL() string { return m.url }

// Close releases this process's resources; the objects stay for others.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.b.close()
}

// Destroy removes the manager and every object in it, for every process,
// then closes it.
func (m *Manager) Destroy(ctx context.Context) error {
	if err := m.b.destroy(ctx); err != nil {
		return err
	}
	return m.Close()
}
