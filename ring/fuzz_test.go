package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// The fuzz targets play a hostile process: they write arbitrary bytes over
// a ring's header (before Attach…) or over its positions, futex words and
// slots (after), then call every operation. Nothing may panic, read or
// write outside the ring, hang (blocking calls get a cancelled context), or
// return a length it should not. Heap-backed, so -race and checkptr watch
// the accesses.

// allowed are the errors garbage may produce.
var allowed = []error{ErrEmpty, ErrFull, ErrClosed, ErrCorrupt, ErrShortBuffer, ErrTooLarge,
	ErrProducerDied, ErrConsumerDied, context.Canceled}

func checkFuzzErr(t *testing.T, op string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("%s: unexpected error %v", op, err)
}

// patch overwrites mem with data at the offsets data itself names: each
// record is a 4-byte offset (taken modulo len(mem)) followed by 8 bytes.
func patch(mem, data []byte) {
	for len(data) >= 12 {
		off := int(binary.LittleEndian.Uint32(data) % uint32(len(mem)))
		copy(mem[off:], data[4:12])
		data = data[12:]
	}
}

const fuzzSlots, fuzzSlotSize = 4, 24

// exercise runs every operation of r once or twice.
func exercise(t *testing.T, r anyRing, slotSize int) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	buf := make([]byte, slotSize)
	small := make([]byte, 3)
	recv := func(op string, b []byte, n int, err error) {
		t.Helper()
		checkFuzzErr(t, op, err)
		switch {
		case err == nil && (n < 0 || n > len(b)):
			t.Fatalf("%s: length %d for a buffer of %d", op, n, len(b))
		case err == ErrShortBuffer && (n <= len(b) || n > slotSize):
			t.Fatalf("%s: ErrShortBuffer with length %d, buffer %d, slot %d", op, n, len(b), slotSize)
		}
	}
	bufs := [][]byte{make([]byte, 0, slotSize), make([]byte, 0, 2), make([]byte, 0, slotSize)}
	recvBatch := func(op string, n int, err error) {
		t.Helper()
		checkFuzzErr(t, op, err)
		if n < 0 || n > len(bufs) {
			t.Fatalf("%s: %d messages", op, n)
		}
		for _, b := range bufs[:n] {
			if len(b) > slotSize {
				t.Fatalf("%s: message of %d bytes", op, len(b))
			}
		}
	}
	type tryRecver interface {
		TryRecv([]byte) (int, error)
		TryRecvBatch([][]byte) (int, error)
		TrySend([]byte) error
		TrySendBatch([][]byte) (int, error)
		Len() int
		Cap() int
	}
	tr := r.(tryRecver)
	for range 2 {
		if l := tr.Len(); l < 0 || l > tr.Cap() {
			t.Fatalf("Len %d", l)
		}
		n, err := tr.TryRecv(small)
		recv("TryRecv small", small, n, err)
		n, err = tr.TryRecv(buf)
		recv("TryRecv", buf, n, err)
		n, err = r.Recv(done, buf)
		recv("Recv", buf, n, err)
		n, err = tr.TryRecvBatch(bufs)
		recvBatch("TryRecvBatch", n, err)
		n, err = r.RecvBatch(done, bufs)
		recvBatch("RecvBatch", n, err)
		if s, ok := r.(*SPSC); ok {
			p, err := s.TryPeek()
			checkFuzzErr(t, "TryPeek", err)
			if err == nil {
				if len(p) > slotSize {
					t.Fatalf("Peek: %d bytes", len(p))
				}
				s.Release()
			}
			p, err = s.Peek(done)
			checkFuzzErr(t, "Peek", err)
			if err == nil {
				s.Release()
			}
			b, err := s.TryReserve()
			checkFuzzErr(t, "TryReserve", err)
			if err == nil {
				copy(b, "reserved")
				checkFuzzErr(t, "Commit", s.Commit(8))
			}
			if b, err = s.Reserve(done); err == nil {
				checkFuzzErr(t, "Commit", s.Commit(len(b)))
			}
			_ = p
		}
		checkFuzzErr(t, "TrySend", tr.TrySend([]byte("hi")))
		checkFuzzErr(t, "Send", r.Send(done, buf))
		_, err = tr.TrySendBatch([][]byte{nil, buf})
		checkFuzzErr(t, "TrySendBatch", err)
		_, err = r.SendBatch(done, [][]byte{buf, nil})
		checkFuzzErr(t, "SendBatch", err)
	}
}

// seedRing returns a valid ring image with a few messages in it.
func seedRing(mpmc bool) []byte {
	var mem []byte
	var r anyRing
	if mpmc {
		mem = heapMem(MPMCSize(fuzzSlots, fuzzSlotSize))
		r, _ = NewMPMC(mem, fuzzSlots, fuzzSlotSize)
	} else {
		mem = heapMem(SPSCSize(fuzzSlots, fuzzSlotSize))
		r, _ = NewSPSC(mem, fuzzSlots, fuzzSlotSize)
	}
	for _, m := range []string{"a", "", "hello, world"} {
		_ = r.Send(context.Background(), []byte(m))
	}
	buf := make([]byte, fuzzSlotSize)
	_, _ = r.Recv(context.Background(), buf)
	return mem
}

func fuzzAttach(f *testing.F, mpmc bool) {
	img := seedRing(mpmc)
	f.Add(img[:ControlSize])
	f.Add(append([]byte(nil), img...))
	f.Add([]byte{})
	hdr := append([]byte(nil), img[:ControlSize]...)
	binary.NativeEndian.PutUint32(hdr[12:], 1<<20)
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := heapMem(len(img))
		copy(mem, img)
		copy(mem, data)
		var r anyRing
		var err error
		if mpmc {
			var m *MPMC
			if m, err = AttachMPMC(mem); err == nil {
				r = m
			}
		} else {
			var s *SPSC
			if s, err = AttachSPSC(mem); err == nil {
				r = s
			}
		}
		if err != nil {
			for _, e := range []error{ErrBadMagic, ErrVersion, ErrKind, ErrGeometry, ErrShortMemory} {
				if err == e {
					return
				}
			}
			t.Fatalf("Attach: unexpected error %v", err)
		}
		exercise(t, r, r.SlotSize())
	})
}

// FuzzAttachSPSC overwrites the start of an SPSC ring image (header and
// more) with the input, then attaches and exercises it.
func FuzzAttachSPSC(f *testing.F) { fuzzAttach(f, false) }

// FuzzAttachMPMC is FuzzAttachSPSC for MPMC.
func FuzzAttachMPMC(f *testing.F) { fuzzAttach(f, true) }

func fuzzRecv(f *testing.F, mpmc bool) {
	rec := func(off int, v uint64) []byte {
		b := make([]byte, 12)
		binary.LittleEndian.PutUint32(b, uint32(off))
		binary.LittleEndian.PutUint64(b[4:], v)
		return b
	}
	f.Add([]byte{})
	f.Add(rec(128, 1<<62))                                        // tail far ahead
	f.Add(rec(256, 9))                                            // head past tail
	f.Add(rec(ControlSize, 0xffffffff))                           // slot 0 header
	f.Add(rec(ControlSize+8, 0xffffffff<<32|3))                   // MPMC poisoned meta
	f.Add(rec(ControlSize+8, 1000))                               // MPMC length too long
	f.Add(append(rec(128, 1<<63|2), rec(256, 2)...))              // closed, drained
	f.Add(append(rec(ControlSize+24, 5), rec(128, 5)...))         // sequence ahead
	f.Add(append(rec(384, 0xffffffff), rec(388, 0x7)...))         // futex words
	f.Add(append(rec(ControlSize, 1), rec(ControlSize+40, 2)...)) // seqs
	f.Add(rec(ControlSize+4, 0xffffffff))                         // SPSC mark garbage
	f.Add(append(rec(256, 1), rec(ControlSize+4, 3<<32)...))      // SPSC a later slot's mark ready
	f.Add(append(rec(392, 1), rec(ControlSize+4, 2)...))          // SPSC closed, mark poisoned
	f.Add(append(rec(392, 7), rec(128, 1<<40)...))                // SPSC closed word and tail garbage
	f.Fuzz(func(t *testing.T, data []byte) {
		img := seedRing(mpmc)
		var r anyRing
		if mpmc {
			r, _ = AttachMPMC(img)
		} else {
			r, _ = AttachSPSC(img)
		}
		// The handle is attached; now the peer turns hostile.
		patch(img[ControlSize/4:], data) // anything but the header line
		exercise(t, r, fuzzSlotSize)
	})
}

// FuzzRecvSPSC attaches to a valid SPSC ring, then overwrites its
// positions, futex words and slots with the input and calls every receive
// (and send) operation.
func FuzzRecvSPSC(f *testing.F) { fuzzRecv(f, false) }

// FuzzRecvMPMC is FuzzRecvSPSC for MPMC.
func FuzzRecvMPMC(f *testing.F) { fuzzRecv(f, true) }
