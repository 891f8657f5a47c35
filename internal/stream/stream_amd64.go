//go:build amd64 && !race

package stream

const streaming = true

// streamCopy copies n > 0 bytes from src to dst: bytes up to a 16-byte
// boundary of dst, 64-byte blocks with MOVNTDQ, the rest bytewise, then
// SFENCE (stream_amd64.s).
//
//go:noescape
func streamCopy(dst, src *byte, n int)
