package ring

import "testing"

func newTestMPMC(t testing.TB, slots, slotSize int) *MPMC {
	t.Helper()
	r, err := NewMPMC(heapMem(MPMCSize(slots, slotSize)), slots, slotSize)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMPMCGeometry(t *testing.T) {
	if MPMCSize(1, 8) != 0 || MPMCSize(3, 8) != 0 || MPMCSize(2, 0) != 0 || MPMCSize(MaxSlots*2, 8) != 0 {
		t.Fatal("bad geometry accepted")
	}
	if MPMCSize(2, 1) != ControlSize+2*24 {
		t.Fatal(MPMCSize(2, 1))
	}
	if SPSCSize(1, 1) != ControlSize+16 || SPSCSize(0, 1) != 0 || SPSCSize(4, MaxSlotSize+1) != 0 {
		t.Fatal(SPSCSize(1, 1))
	}
	if SPSCSize(MaxSlots, MaxSlotSize) == 0 {
		t.Fatal("largest geometry refused")
	}
}
