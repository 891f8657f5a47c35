package shm_test

import (
	"bytes"
	"encoding/gob"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

func TestSegmentGob(t *testing.T) {
	seg, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(seg); err != nil {
		t.Fatal(err)
	}
	var back *shm.Segment
	if err := gob.NewDecoder(&b).Decode(&back); err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	back.Bytes()[7] = 9
	if seg.Bytes()[7] != 9 || back.Size() != 4096 {
		t.Fatal("decoded segment does not share memory")
	}
	closed, _ := shm.Anonymous(4096)
	closed.Close()
	if err := gob.NewEncoder(&b).Encode(closed); !errors.Is(err, shm.ErrClosed) {
		t.Fatalf("encoding a closed segment: %v", err)
	}
}

func TestPtr(t *testing.T) {
	type pair struct{ A, B int64 }
	seg, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	p, err := ctypes.View[pair](seg.Bytes()[64:])
	if err != nil {
		t.Fatal(err)
	}
	ptr, err := shm.PtrTo(p)
	if err != nil || ptr.Off != 64 {
		t.Fatalf("PtrTo: %+v %v", ptr, err)
	}
	q, qseg, err := ptr.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer qseg.Close()
	q.B = 5
	if p.B != 5 {
		t.Fatal("Open gave a pointer to other memory")
	}
	if _, err := shm.PtrTo(&pair{}); !errors.Is(err, shm.ErrNoRef) {
		t.Fatalf("PtrTo of a heap value: %v", err)
	}
	bad := ptr
	bad.Off = 4090 // the pair would run past the end
	if _, _, err := bad.Open(); !errors.Is(err, ctypes.ErrShort) {
		t.Fatalf("Open past the end: %v", err)
	}
	bad.Off = -1
	if _, _, err := bad.Open(); !errors.Is(err, shm.ErrNoRef) {
		t.Fatalf("Open at a negative offset: %v", err)
	}
	type withString struct{ S string }
	if _, err := shm.PtrTo(&withString{}); !errors.Is(err, ctypes.ErrPointers) {
		t.Fatalf("PtrTo of a type with pointers: %v", err)
	}
}

func TestTrackRefs(t *testing.T) {
	a, _ := shm.Anonymous(4096)
	defer a.Close()
	b, _ := shm.Anonymous(4096)
	defer b.Close()
	bref := b.Ref() // made before tracking: noticed when encoded
	refs, err := shm.TrackRefs(func() error {
		var buf bytes.Buffer
		return gob.NewEncoder(&buf).Encode(struct {
			S *shm.Segment
			R shm.Ref
			P shm.Ptr[int64]
		}{a, bref, shm.Ptr[int64]{Seg: bref}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0] != a.Ref() || refs[1] != bref {
		t.Fatalf("tracked %v, want [%v %v]", refs, a.Ref(), bref)
	}
	// Other goroutines' references are not this goroutine's.
	refs, _ = shm.TrackRefs(func() error {
		done := make(chan struct{})
		go func() { _ = a.Ref(); close(done) }()
		<-done
		return nil
	})
	if len(refs) != 0 {
		t.Fatalf("tracked another goroutine's reference: %v", refs)
	}
}
