//go:build !amd64 || race

package stream

const streaming = false

func streamCopy(dst, src *byte, n int) { panic("stream: no streaming copy on this build") }
