package ring

import (
	"context"
	"encoding/binary"
	"testing"
	"unsafe"
)

// TestLayout pins the published memory layout (see the SPSC and MPMC
// documentation). Changing it is a format change: bump Version.
func TestLayout(t *testing.T) {
	check := func(name string, got, want uintptr) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	var c control
	check("Sizeof(control)", unsafe.Sizeof(c), ControlSize)
	check("ControlSize", ControlSize, 512)
	check("Alignof(control)", unsafe.Alignof(c), 8)
	check("magic", unsafe.Offsetof(c.magic), 0)
	check("version", unsafe.Offsetof(c.version), 4)
	check("kind", unsafe.Offsetof(c.kind), 8)
	check("slots", unsafe.Offsetof(c.slots), 12)
	check("slotSize", unsafe.Offsetof(c.slotSize), 16)
	check("stride", unsafe.Offsetof(c.stride), 20)
	check("size", unsafe.Offsetof(c.size), 24)
	check("tail", unsafe.Offsetof(c.tail), 128)
	check("sendPid", unsafe.Offsetof(c.sendPid), 136)
	check("head", unsafe.Offsetof(c.head), 256)
	check("recvPid", unsafe.Offsetof(c.recvPid), 264)
	check("notEmpty", unsafe.Offsetof(c.notEmpty), 384)
	check("notFull", unsafe.Offsetof(c.notFull), 388)
	check("closed", unsafe.Offsetof(c.closed), 392)
	if Magic != 0x526d6873 || string([]byte{0x73, 0x68, 0x6d, 0x52}) != "shmR" || Version != 2 {
		t.Error("magic or version changed")
	}
}

// TestSlotLayout pins the slot formats by reading the bytes a send writes.
func TestSlotLayout(t *testing.T) {
	ne := binary.NativeEndian
	mem := heapMem(SPSCSize(4, 20))
	s, _ := NewSPSC(mem, 4, 20)
	if got := ne.Uint32(mem[20:]); got != 8+24 {
		t.Fatalf("SPSC stride %d, want 32", got)
	}
	_ = s.TrySend([]byte("ab"))
	_ = s.TrySend([]byte("xyz"))
	slot1 := mem[ControlSize+32:]
	if ne.Uint32(slot1) != 3 || string(slot1[8:11]) != "xyz" || ne.Uint64(mem[128:]) != 2 {
		t.Fatalf("SPSC slot 1: % x, tail %d", slot1[:16], ne.Uint64(mem[128:]))
	}
	// Marks: ready(p) = 2p+1 for the published positions 0 and 1, 0 (free)
	// in a slot not yet used.
	if m0, m1, m2 := ne.Uint32(mem[ControlSize+4:]), ne.Uint32(slot1[4:]), ne.Uint32(mem[ControlSize+64+4:]); m0 != 1 || m1 != 3 || m2 != 0 {
		t.Fatalf("SPSC marks %d %d %d, want 1 3 0", m0, m1, m2)
	}
	_ = s.Close()
	if ne.Uint32(mem[392:]) != 1 || ne.Uint64(mem[128:]) != 2 {
		t.Fatalf("SPSC after Close: closed %d, tail %d; want 1, 2", ne.Uint32(mem[392:]), ne.Uint64(mem[128:]))
	}
	buf := make([]byte, 20)
	for range 2 {
		_, _ = s.TryRecv(buf)
	}
	if _, err := s.TryRecv(buf); err != ErrClosed || ne.Uint32(mem[ControlSize+64+4:]) != 2 {
		t.Fatalf("SPSC drained after Close: %v, mark of slot 2 %d; want ErrClosed, 2 (poisoned)", err, ne.Uint32(mem[ControlSize+64+4:]))
	}
	if ne.Uint32(mem[136:]) != pid {
		t.Fatal("sendPid not recorded")
	}

	mem = heapMem(MPMCSize(4, 20))
	m, _ := NewMPMC(mem, 4, 20)
	stride := 16 + 24
	for i := range 4 {
		if got := ne.Uint64(mem[ControlSize+i*stride:]); got != uint64(i) {
			t.Fatalf("MPMC seq of slot %d = %d after New", i, got)
		}
	}
	_ = m.TrySend([]byte("ab"))
	_ = m.TrySend([]byte("xyz"))
	slot1 = mem[ControlSize+stride:]
	meta := ne.Uint64(slot1[8:])
	if ne.Uint64(slot1) != 2 || uint32(meta) != 3 || uint32(meta>>32) != pid || string(slot1[16:19]) != "xyz" {
		t.Fatalf("MPMC slot 1: % x", slot1[:24])
	}
	buf = make([]byte, 20)
	_, _ = m.Recv(context.Background(), buf)
	slot0 := mem[ControlSize:]
	meta = ne.Uint64(slot0[8:])
	if ne.Uint64(slot0) != 4 || uint32(meta>>32) != pid|tagConsumer {
		t.Fatalf("MPMC slot 0 after receive: % x", slot0[:16])
	}
	// Position 5 (round 1) tags carry the round.
	if m.tag(5, tagConsumer)>>tagRoundSh != 1 || m.tag(4+256*4, 0)>>tagRoundSh != 1 {
		t.Fatal("round bits")
	}
}
