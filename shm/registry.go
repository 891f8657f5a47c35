package shm

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/goid"
	"golang.org/x/sys/unix"
)

// The process keeps a registry of its live mappings, so that an object in
// shared memory can be named to another process (Ref, Locate) and so that a
// launcher can hand every live segment to a child (Live).

// ErrNoRef: a Ref names an anonymous segment this process has no
// descriptor for (it was not inherited), or a segment that is gone.
var ErrNoRef = errors.New("shm: segment of reference not available")

// Ref is a small serializable reference to a segment, valid in the process
// that made it and in processes that inherited its descriptor (Adopt) or,
// for named segments, that can open it by name.
type Ref struct {
	Name string `json:"name,omitempty"` // "" for anonymous segments
	PID  int    `json:"pid"`            // the process that made the reference
	ID   uint64 `json:"id"`             // the segment's id in that process
	Size int64  `json:"size"`
}

var live struct {
	mu      sync.Mutex
	next    uint64
	m       map[uint64]*resources
	adopted map[adoptKey]int // inherited descriptors, by their origin
}

type adoptKey struct {
	pid int
	id  uint64
}

var selfPid = os.Getpid()

func register(r *resources) {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.m == nil {
		live.m = map[uint64]*resources{}
	}
	live.next++
	r.id = live.next
	r.base = baseOf(r.data)
	live.m[r.id] = r
}

func unregister(r *resources) {
	live.mu.Lock()
	defer live.mu.Unlock()
	delete(live.m, r.id)
}

// Ref returns a reference to s for another process. After Close it
// returns the zero Ref.
func (s *Segment) Ref() Ref {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return Ref{}
	}
	r := Ref{Name: s.name, PID: selfPid, ID: s.res.id, Size: s.size}
	noteRef(r)
	return r
}

// Tracking which segments an encoding refers to, so that a launcher hands
// a child exactly those. Collectors are per goroutine: encoding runs on
// the goroutine that asked for it.
var tracking struct {
	n  atomic.Int32 // collectors registered; Ref's fast path checks it
	mu sync.Mutex
	by map[uintptr]*[]Ref
}

// TrackRefs runs fn and returns the references to segments of this
// process that were made on this goroutine meanwhile (Segment.Ref, and
// through it the references of objects in segments), without duplicates.
func TrackRefs(fn func() error) ([]Ref, error) {
	g := goid.Current()
	var refs []Ref
	tracking.mu.Lock()
	if tracking.by == nil {
		tracking.by = map[uintptr]*[]Ref{}
	}
	tracking.by[g] = &refs
	tracking.mu.Unlock()
	tracking.n.Add(1)
	err := fn()
	tracking.n.Add(-1)
	tracking.mu.Lock()
	delete(tracking.by, g)
	tracking.mu.Unlock()
	return refs, err
}

func noteRef(r Ref) {
	if tracking.n.Load() == 0 {
		return
	}
	tracking.mu.Lock()
	defer tracking.mu.Unlock()
	if p := tracking.by[goid.Current()]; p != nil && !slices.Contains(*p, r) {
		*p = append(*p, r)
	}
}

// LiveSegment describes one live mapping of this process for a launcher.
// Fd stays owned by the segment.
type LiveSegment struct {
	Ref Ref
	Fd  int
}

// WithLive calls fn with every live segment of this process. Segments
// cannot be closed while fn runs, so the descriptors stay valid; fn must
// not close segments itself.
func WithLive(fn func([]LiveSegment) error) error {
	live.mu.Lock()
	defer live.mu.Unlock()
	segs := make([]LiveSegment, 0, len(live.m))
	for _, r := range live.m {
		segs = append(segs, LiveSegment{
			Ref: Ref{Name: r.name, PID: selfPid, ID: r.id, Size: r.size},
			Fd:  r.fd,
		})
	}
	return fn(segs)
}

// Adopt records that fd, inherited from process pid, is that process's
// segment id, so that OpenRef can open references to it. The descriptor
// stays the caller's; OpenRef maps a duplicate.
func Adopt(pid int, id uint64, fd int) {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.adopted == nil {
		live.adopted = map[adoptKey]int{}
	}
	live.adopted[adoptKey{pid, id}] = fd
}

// OpenRef maps the segment r refers to: through a duplicate of this
// process's own descriptor when r was made here, of an adopted descriptor
// when it was inherited, or by name. It fails with ErrNoRef when none
// applies, and when the segment found does not have r's size (a stale
// name reused by another segment).
func OpenRef(r Ref, opts *Options) (*Segment, error) {
	fd := -1
	live.mu.Lock()
	if r.PID == selfPid {
		if res, ok := live.m[r.ID]; ok {
			fd = res.fd
		}
	} else if f, ok := live.adopted[adoptKey{r.PID, r.ID}]; ok {
		fd = f
	}
	if fd >= 0 {
		var err error
		fd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		live.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("shm: open reference: dup: %w", err)
		}
		seg, err := FromFd(fd, opts)
		if err != nil {
			_ = unix.Close(fd)
			return nil, err
		}
		seg.name = r.Name
		live.mu.Lock()
		seg.res.name = r.Name
		live.mu.Unlock()
		return checkRefSize(seg, r)
	}
	live.mu.Unlock()
	if r.Name == "" {
		return nil, fmt.Errorf("%w: anonymous segment %d of process %d was not inherited", ErrNoRef, r.ID, r.PID)
	}
	seg, err := Open(r.Name, opts)
	if err != nil {
		return nil, err
	}
	return checkRefSize(seg, r)
}

func checkRefSize(seg *Segment, r Ref) (*Segment, error) {
	if seg.Size() != r.Size {
		_ = seg.Close()
		return nil, fmt.Errorf("%w: segment %q has %d bytes, the reference %d", ErrNoRef, r.Name, seg.Size(), r.Size)
	}
	return seg, nil
}
