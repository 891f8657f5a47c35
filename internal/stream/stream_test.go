package stream

import (
	"bytes"
	"testing"
)

// TestCopy compares Copy with the built-in copy for lengths around the
// threshold and the block size, every alignment of dst and src within 16
// bytes, and a copy larger than one chunk.
func TestCopy(t *testing.T) {
	src := make([]byte, chunk+3*Threshold)
	for i := range src {
		src[i] = byte(i*7 + i>>8)
	}
	lengths := []int{0, 1, 63, Threshold - 1, Threshold, Threshold + 1, Threshold + 63, Threshold + 64, 3*Threshold + 17, chunk + Threshold + 5}
	for _, n := range lengths {
		for _, da := range []int{0, 1, 8, 15} {
			for _, sa := range []int{0, 3, 8} {
				dst := make([]byte, n+da+32)
				for i := range dst {
					dst[i] = 0xEE
				}
				got := Copy(dst[da:da+n], src[sa:sa+n])
				if got != n || !bytes.Equal(dst[da:da+n], src[sa:sa+n]) {
					t.Fatalf("n=%d dst+%d src+%d: copied %d, bytes differ", n, da, sa, got)
				}
				for i, b := range dst[:da] {
					if b != 0xEE {
						t.Fatalf("n=%d dst+%d: byte %d before dst written", n, da, i)
					}
				}
				for i, b := range dst[da+n:] {
					if b != 0xEE {
						t.Fatalf("n=%d dst+%d: byte %d after dst written", n, da, i)
					}
				}
			}
		}
	}
	// Shorter destination or source: the built-in copy's rule.
	if n := Copy(make([]byte, Threshold), src[:2*Threshold]); n != Threshold {
		t.Fatalf("short dst: copied %d, want %d", n, Threshold)
	}
}

func BenchmarkCopy64KiB(b *testing.B) {
	src := make([]byte, 64<<10)
	dst := make([]byte, 64<<10)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		Copy(dst, src)
	}
}
