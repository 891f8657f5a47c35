package shm

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/ctypes"
)

// Sharing segments and values in them with other processes.
//
// A *Segment encodes (encoding/gob, the codec package fork uses for task
// arguments) as its Ref, and decodes by opening that Ref: a segment passed
// to a child process arrives mapped. Ptr does the same for a pointer to a
// value inside a segment, such as a locks.Mutex in a struct of yours.

// GobEncode encodes s as its Ref.
func (s *Segment) GobEncode() ([]byte, error) {
	r := s.Ref()
	if r == (Ref{}) {
		return nil, fmt.Errorf("shm: encode: %w", ErrClosed)
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// GobDecode maps the segment the encoded Ref names into s, which must be a
// new, zero Segment. The caller owns the mapping (Close).
func (s *Segment) GobDecode(data []byte) error {
	var r Ref
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil {
		return fmt.Errorf("shm: decode reference: %w", err)
	}
	if s.res != nil {
		return errors.New("shm: GobDecode into a segment in use")
	}
	seg, err := OpenRef(r, nil)
	if err != nil {
		return err
	}
	s.name, s.size, s.readOnly = seg.name, seg.size, seg.readOnly
	seg.mu.Lock()
	s.res = seg.res
	seg.res = nil
	seg.cleanup.Stop()
	seg.mu.Unlock()
	s.cleanup = addCleanup(s)
	return nil
}

// Ptr is a serializable pointer to a T inside a segment: the segment's Ref
// and the offset. Make one with PtrTo in the process that has the value
// mapped; Open it in another.
type Ptr[T any] struct {
	Seg Ref
	Off int64
}

// PtrTo returns a Ptr to *p, which must lie inside a live segment of this
// process (ErrNoRef otherwise) and hold no Go pointers.
func PtrTo[T any](p *T) (Ptr[T], error) {
	var zero T
	if _, err := ctypes.Bytes(&zero); err != nil {
		return Ptr[T]{}, err
	}
	r, off, ok := Locate(p)
	if !ok {
		return Ptr[T]{}, fmt.Errorf("%w: the value is not in a live segment of this process", ErrNoRef)
	}
	return Ptr[T]{Seg: r, Off: off}, nil
}

// Open maps the segment and returns the pointer into it, with the segment
// to Close when done with the value.
func (p Ptr[T]) Open() (*T, *Segment, error) {
	seg, err := OpenRef(p.Seg, nil)
	if err != nil {
		return nil, nil, err
	}
	if p.Off < 0 || p.Off > seg.Size() {
		seg.Close()
		return nil, nil, fmt.Errorf("%w: offset %d outside a %d-byte segment", ErrNoRef, p.Off, seg.Size())
	}
	v, err := ctypes.View[T](seg.Bytes()[p.Off:])
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return v, seg, nil
}

// refWire is Ref without methods, for its gob encoding.
type refWire Ref

// GobEncode encodes r, and notes it for TrackRefs: a launcher encoding a
// task argument that holds a Ref (directly, or in a Ptr) hands the child
// that segment.
func (r Ref) GobEncode() ([]byte, error) {
	noteRef(r)
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(refWire(r))
	return b.Bytes(), err
}

// GobDecode decodes a Ref encoded by GobEncode.
func (r *Ref) GobDecode(data []byte) error {
	var w refWire
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&w); err != nil {
		return err
	}
	*r = Ref(w)
	return nil
}
