package locks

import (
	"bytes"
	"context"
	"encoding/gob"
	"testing"
)

func TestSharedConstructors(t *testing.T) {
	m, err := NewMutex()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Lock()
	if m.TryLock() {
		t.Fatal("TryLock of a held shared Mutex")
	}
	m.Unlock()

	s, err := NewSemaphore(2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Value() != 2 {
		t.Fatal(s.Value())
	}
	bs, err := NewBoundedSemaphore(1)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if err := bs.Release(); err != ErrOverRelease {
		t.Fatalf("over-release of a shared BoundedSemaphore: %v", err)
	}
	b, err := NewBarrier(1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if i, err := b.Wait(context.Background()); i != 0 || err != nil {
		t.Fatal(i, err)
	}
	for _, f := range []func() (interface{ Close() error }, error){
		func() (interface{ Close() error }, error) { return NewRMutex() },
		func() (interface{ Close() error }, error) { return NewCond() },
		func() (interface{ Close() error }, error) { return NewEvent() },
	} {
		o, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A handle encoded and decoded (as package fork passes it) is the same
	// primitive.
	e, err := NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(e); err != nil {
		t.Fatal(err)
	}
	var e2 *SharedEvent
	if err := gob.NewDecoder(&buf).Decode(&e2); err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	e2.Set()
	if !e.IsSet() {
		t.Fatal("decoded Event is another event")
	}
}
