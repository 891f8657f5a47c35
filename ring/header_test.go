package ring

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestNewErrors(t *testing.T) {
	mem := heapMem(SPSCSize(4, 16))
	for _, c := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"slots 0", ErrGeometry, func() error { _, err := NewSPSC(mem, 0, 16); return err }},
		{"slots 3", ErrGeometry, func() error { _, err := NewSPSC(mem, 3, 16); return err }},
		{"slotSize 0", ErrGeometry, func() error { _, err := NewSPSC(mem, 4, 0); return err }},
		{"slotSize huge", ErrGeometry, func() error { _, err := NewSPSC(mem, 4, MaxSlotSize+1); return err }},
		{"MPMC 1 slot", ErrGeometry, func() error { _, err := NewMPMC(mem, 1, 16); return err }},
		{"short", ErrShortMemory, func() error { _, err := NewSPSC(mem[:len(mem)-1], 4, 16); return err }},
		{"short MPMC", ErrShortMemory, func() error { _, err := NewMPMC(mem, 4, 16); return err }},
		{"misaligned", ErrAlignment, func() error { _, err := NewSPSC(heapMem(len(mem) + 8)[8:], 4, 16); return err }},
	} {
		if err := c.fn(); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
}

func TestAttachErrors(t *testing.T) {
	size := SPSCSize(4, 16)
	fresh := func() []byte {
		mem := heapMem(size + 64)
		if _, err := NewSPSC(mem, 4, 16); err != nil {
			t.Fatal(err)
		}
		return mem
	}
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.NativeEndian.PutUint32(b[off:], v) }
	}
	for _, c := range []struct {
		name  string
		err   error
		patch func([]byte)
		mem   func([]byte) []byte
		mpmc  bool
	}{
		{name: "ok"},
		{name: "zero", err: ErrBadMagic, patch: func(b []byte) { clear(b) }},
		{name: "magic", err: ErrBadMagic, patch: put32(0, Magic+1)},
		{name: "version", err: ErrVersion, patch: put32(4, Version+1)},
		{name: "kind", err: ErrKind, mpmc: true},
		{name: "kind 7", err: ErrKind, patch: put32(8, 7)},
		{name: "slots 3", err: ErrGeometry, patch: put32(12, 3)},
		{name: "slots 0", err: ErrGeometry, patch: put32(12, 0)},
		{name: "slots huge", err: ErrGeometry, patch: put32(12, 1<<31)},
		{name: "slotSize", err: ErrGeometry, patch: put32(16, 17)},
		{name: "slotSize 0", err: ErrGeometry, patch: put32(16, 0)},
		{name: "stride", err: ErrGeometry, patch: put32(20, 32)},
		{name: "size", err: ErrGeometry, patch: func(b []byte) { binary.NativeEndian.PutUint64(b[24:], uint64(size+1)) }},
		{name: "short", err: ErrShortMemory, mem: func(b []byte) []byte { return b[:size-1] }},
		{name: "tiny", err: ErrShortMemory, mem: func(b []byte) []byte { return b[:ControlSize-1] }},
		{name: "misaligned", err: ErrAlignment, mem: func(b []byte) []byte { return b[8:] }},
		{name: "grown header", err: ErrShortMemory, patch: func(b []byte) {
			// Consistent geometry for a ring larger than the memory.
			binary.NativeEndian.PutUint32(b[12:], 64)
			binary.NativeEndian.PutUint64(b[24:], uint64(SPSCSize(64, 16)))
		}},
	} {
		mem := fresh()
		if c.patch != nil {
			c.patch(mem)
		}
		if c.mem != nil {
			mem = c.mem(mem)
		}
		var err error
		if c.mpmc {
			_, err = AttachMPMC(mem)
		} else {
			_, err = AttachSPSC(mem)
		}
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
	mem := heapMem(MPMCSize(4, 16))
	if _, err := NewMPMC(mem, 4, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := AttachSPSC(mem); err != ErrKind {
		t.Fatalf("SPSC attach of MPMC: %v", err)
	}
	if r, err := AttachMPMC(mem); err != nil || r.Cap() != 4 || r.SlotSize() != 16 {
		t.Fatalf("AttachMPMC: %v", err)
	}
}

// TestErrorsAreDistinct guards the sentinel block against copy-paste.
func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrFull, ErrEmpty, ErrClosed, ErrTooLarge, ErrShortBuffer, ErrProducerDied,
		ErrConsumerDied, ErrBadMagic, ErrVersion, ErrKind, ErrGeometry, ErrShortMemory,
		ErrAlignment, ErrCorrupt}
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.Error()] {
			t.Errorf("duplicate message %q", e)
		}
		seen[e.Error()] = true
	}
}

// TestAttachSeesMessages: a second handle on the same memory (another
// process's view) receives what the first sent.
func TestAttachSeesMessages(t *testing.T) {
	mem := heapMem(SPSCSize(8, 32))
	a, err := NewSPSC(mem, 8, 32)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AttachSPSC(mem)
	if err != nil {
		t.Fatal(err)
	}
	_ = a.TrySend([]byte("hello"))
	buf := make([]byte, 32)
	if n, err := b.TryRecv(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	mm := heapMem(MPMCSize(8, 32))
	c, _ := NewMPMC(mm, 8, 32)
	d, _ := AttachMPMC(mm)
	_ = d.TrySend([]byte("world"))
	if n, err := c.TryRecv(buf); err != nil || string(buf[:n]) != "world" {
		t.Fatalf("%q %v", buf[:n], err)
	}
}
