package ctypes_test

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
)

// FuzzView views arbitrary windows of a buffer. It must never panic, every
// failure must be one of the documented errors, and a successful view must
// write exactly the bytes it covers.
func FuzzView(f *testing.F) {
	f.Add(uint16(64), uint16(0), uint16(64))
	f.Add(uint16(64), uint16(1), uint16(63))
	f.Add(uint16(7), uint16(0), uint16(7))
	f.Add(uint16(0), uint16(0), uint16(0))
	f.Add(uint16(100), uint16(4), uint16(24))
	f.Fuzz(func(t *testing.T, size, lo, hi uint16) {
		buf := aligned(int(size), 8)
		lo, hi = min(lo, size), min(hi, size)
		if lo > hi {
			lo, hi = hi, lo
		}
		mem := buf[lo:hi]

		v, err := ctypes.View[uint64](mem)
		checkErr(t, err, ctypes.ErrShort, ctypes.ErrMisaligned)
		if err == nil {
			*v = ^uint64(0)
			checkWritten(t, buf, int(lo), 8)
		}
		clear(buf)
		r, err := ctypes.View[record](mem)
		checkErr(t, err, ctypes.ErrShort, ctypes.ErrMisaligned)
		if err == nil {
			r.A, r.E = 1, true
			if buf[lo] == 0 || buf[int(lo)+20] != 1 {
				t.Fatalf("View[record] at %d did not write its bytes", lo)
			}
		}
	})
}

// FuzzSlice asks for arbitrary counts over arbitrary windows.
func FuzzSlice(f *testing.F) {
	f.Add(uint16(64), uint16(0), 8)
	f.Add(uint16(64), uint16(2), 1)
	f.Add(uint16(64), uint16(0), -1)
	f.Add(uint16(64), uint16(0), 0)
	f.Add(uint16(64), uint16(0), 1<<62)
	f.Add(uint16(64), uint16(0), int(^uint(0)>>1))
	f.Fuzz(func(t *testing.T, size, off uint16, n int) {
		buf := aligned(int(size), 8)
		mem := buf[min(off, size):]

		s, err := ctypes.Slice[uint32](mem, n)
		checkErr(t, err, ctypes.ErrShort, ctypes.ErrMisaligned, ctypes.ErrNegative)
		if err != nil {
			return
		}
		if len(s) != n || cap(s) != n {
			t.Fatalf("Slice(%d) has len %d cap %d", n, len(s), cap(s))
		}
		for i := range s {
			s[i] = ^uint32(0)
		}
		if n > 0 {
			checkWritten(t, buf, int(min(off, size)), 4*n)
		}
	})
}

// FuzzParseFormat feeds arbitrary format strings: no panics, only ErrFormat,
// and a consistent layout when accepted.
func FuzzParseFormat(f *testing.F) {
	for _, format := range pythonFormats {
		f.Add(format)
	}
	f.Add("99999999999999999999c")
	f.Add("<i")
	f.Fuzz(func(t *testing.T, format string) {
		l, err := ctypes.ParseFormat(format)
		calc, cerr := ctypes.CalcSize(format)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("ParseFormat error %v, CalcSize error %v", err, cerr)
		}
		if err != nil {
			checkErr(t, err, ctypes.ErrFormat)
			return
		}
		if calc > l.Size || l.Size%l.Align != 0 {
			t.Fatalf("calcsize %d, size %d, align %d", calc, l.Size, l.Align)
		}
		end := 0
		for _, fd := range l.Fields {
			if fd.Offset < end || fd.Offset%fd.Align != 0 || fd.Offset+fd.Size > calc {
				t.Fatalf("field %s at %d size %d after %d, calcsize %d", fd.Name, fd.Offset, fd.Size, end, calc)
			}
			end = fd.Offset + fd.Size
		}
	})
}

// checkErr fails unless err is nil or matches one of allowed.
func checkErr(t *testing.T, err error, allowed ...error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("unexpected error %v", err)
}

// checkWritten fails unless buf is 0xff exactly in [off, off+n).
func checkWritten(t *testing.T, buf []byte, off, n int) {
	t.Helper()
	for i, b := range buf {
		want := byte(0)
		if i >= off && i < off+n {
			want = 0xff
		}
		if b != want {
			t.Fatalf("after writing %d bytes at %d: buf[%d] = %#x", n, off, i, b)
		}
	}
}
