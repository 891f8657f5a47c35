// Package stream copies large messages into shared memory with
// non-temporal ("streaming") stores where the machine has them.
//
// A regular copy into a ring slot takes each cache line into the writer's
// cache first, and the reader then pulls it from there, one cache-to-cache
// transfer per line; between two cores that do not share a cache (two
// vCPUs of a VM on different core complexes) that costs about 11 ns per
// 64-byte line here, whatever the copy loop does. Streaming stores write
// around the writer's cache, straight towards memory, and the reader
// streams the lines from there: in ring.BenchmarkBandwidth64KiB, sends of
// 64 KiB (streamed) run three to four times faster on this VM than slots
// filled with copy (ring/zero-copy). For small
// messages, which the reader wants from a cache, they would be slower, so
// Copy uses them only from Threshold bytes on.
//
// Copy ends with a store fence: the streamed bytes are visible to another
// core before any store the caller makes afterwards (the publication of
// the message).
package stream

// Threshold is the length from which Copy streams: as large as a typical
// L1 data cache, well above the messages a reader wants hot.
const Threshold = 32 << 10

// chunk bounds one call of the assembly loop, which cannot be preempted:
// a huge copy still reaches a preemption point every few hundred
// microseconds.
const chunk = 1 << 20

// Copy copies src into dst, like the built-in copy, and returns the number
// of bytes copied. Copies of Threshold bytes and more use streaming stores
// on amd64 (outside race builds, where the race detector must see the
// writes).
func Copy(dst, src []byte) int {
	n := min(len(dst), len(src))
	if n < Threshold || !streaming {
		return copy(dst, src)
	}
	for off := 0; off < n; off += chunk {
		end := min(off+chunk, n)
		streamCopy(&dst[off], &src[off], end-off)
	}
	return n
}
