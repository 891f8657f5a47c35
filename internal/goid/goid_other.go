//go:build !amd64 && !arm64

package goid

import (
	"bytes"
	"runtime"
	"strconv"
)

// Current returns the calling goroutine's identifier: its goroutine number,
// parsed from the stack trace header ("goroutine 18 [running]:").
func Current() uintptr {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return uintptr(n)
}
