package locks

import (
	"bytes"
	"encoding/gob"
	"fmt"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

// The convenience layer: each New… constructor places one primitive in an
// anonymous shared segment of its own and returns a handle that embeds a
// pointer to it, so the primitive's methods are the handle's. A handle
// passed to a package fork task arrives working in the child (it encodes
// as a reference to its segment); Close unmaps this process's mapping.

// owned is the segment a handle's primitive lives in.
type owned struct{ seg *shm.Segment }

func newOwned[T any]() (*T, owned, error) {
	var zero T
	size := max(int64(len(mustBytes(&zero))), 8)
	seg, err := shm.Anonymous(size)
	if err != nil {
		return nil, owned{}, err
	}
	p, err := ctypes.View[T](seg.Bytes())
	if err != nil {
		seg.Close()
		return nil, owned{}, err
	}
	return p, owned{seg}, nil
}

func mustBytes[T any](p *T) []byte {
	b, err := ctypes.Bytes(p)
	if err != nil {
		panic("locks: " + err.Error())
	}
	return b
}

// Close unmaps this process's mapping of the primitive. It must not be
// held or waited on by this process any more; other processes keep theirs.
func (o owned) Close() error { return o.seg.Close() }

func (o owned) encode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(o.seg)
	return b.Bytes(), err
}

func decodeOwned[T any](data []byte) (*T, owned, error) {
	var seg *shm.Segment
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&seg); err != nil {
		return nil, owned{}, fmt.Errorf("locks: decode shared primitive: %w", err)
	}
	p, err := ctypes.View[T](seg.Bytes())
	if err != nil {
		seg.Close()
		return nil, owned{}, err
	}
	return p, owned{seg}, nil
}

// SharedMutex is a Mutex in its own shared segment (see NewMutex).
type SharedMutex struct {
	*Mutex
	owned
}

// NewMutex returns an unlocked Mutex in a new anonymous shared segment.
func NewMutex() (*SharedMutex, error) {
	p, o, err := newOwned[Mutex]()
	if err != nil {
		return nil, err
	}
	return &SharedMutex{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedMutex) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedMutex) GobDecode(b []byte) (err error) {
	s.Mutex, s.owned, err = decodeOwned[Mutex](b)
	return err
}

// SharedRMutex is an RMutex in its own shared segment (see NewRMutex).
type SharedRMutex struct {
	*RMutex
	owned
}

// NewRMutex returns an unlocked RMutex in a new anonymous shared segment.
func NewRMutex() (*SharedRMutex, error) {
	p, o, err := newOwned[RMutex]()
	if err != nil {
		return nil, err
	}
	return &SharedRMutex{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedRMutex) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedRMutex) GobDecode(b []byte) (err error) {
	s.RMutex, s.owned, err = decodeOwned[RMutex](b)
	return err
}

// SharedSemaphore is a Semaphore in its own shared segment.
type SharedSemaphore struct {
	*Semaphore
	owned
}

// NewSemaphore returns a Semaphore with count n in a new anonymous shared
// segment. It panics if n is out of range, like Init.
func NewSemaphore(n int) (*SharedSemaphore, error) {
	p, o, err := newOwned[Semaphore]()
	if err != nil {
		return nil, err
	}
	p.Init(n)
	return &SharedSemaphore{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedSemaphore) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedSemaphore) GobDecode(b []byte) (err error) {
	s.Semaphore, s.owned, err = decodeOwned[Semaphore](b)
	return err
}

// SharedBoundedSemaphore is a BoundedSemaphore in its own shared segment.
type SharedBoundedSemaphore struct {
	*BoundedSemaphore
	owned
}

// NewBoundedSemaphore returns a BoundedSemaphore with count and bound n in
// a new anonymous shared segment.
func NewBoundedSemaphore(n int) (*SharedBoundedSemaphore, error) {
	p, o, err := newOwned[BoundedSemaphore]()
	if err != nil {
		return nil, err
	}
	p.Init(n)
	return &SharedBoundedSemaphore{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedBoundedSemaphore) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedBoundedSemaphore) GobDecode(b []byte) (err error) {
	s.BoundedSemaphore, s.owned, err = decodeOwned[BoundedSemaphore](b)
	return err
}

// SharedCond is a Cond in its own shared segment.
type SharedCond struct {
	*Cond
	owned
}

// NewCond returns a Cond in a new anonymous shared segment.
func NewCond() (*SharedCond, error) {
	p, o, err := newOwned[Cond]()
	if err != nil {
		return nil, err
	}
	return &SharedCond{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedCond) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedCond) GobDecode(b []byte) (err error) {
	s.Cond, s.owned, err = decodeOwned[Cond](b)
	return err
}

// SharedEvent is an Event in its own shared segment.
type SharedEvent struct {
	*Event
	owned
}

// NewEvent returns an unset Event in a new anonymous shared segment.
func NewEvent() (*SharedEvent, error) {
	p, o, err := newOwned[Event]()
	if err != nil {
		return nil, err
	}
	return &SharedEvent{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedEvent) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedEvent) GobDecode(b []byte) (err error) {
	s.Event, s.owned, err = decodeOwned[Event](b)
	return err
}

// SharedBarrier is a Barrier in its own shared segment.
type SharedBarrier struct {
	*Barrier
	owned
}

// NewBarrier returns a Barrier for parties in a new anonymous shared
// segment. It panics if parties is out of range, like Init.
func NewBarrier(parties int) (*SharedBarrier, error) {
	p, o, err := newOwned[Barrier]()
	if err != nil {
		return nil, err
	}
	p.Init(parties)
	return &SharedBarrier{p, o}, nil
}

// GobEncode encodes the handle as a reference to its segment.
func (s *SharedBarrier) GobEncode() ([]byte, error) { return s.encode() }

// GobDecode maps the segment the reference names.
func (s *SharedBarrier) GobDecode(b []byte) (err error) {
	s.Barrier, s.owned, err = decodeOwned[Barrier](b)
	return err
}
