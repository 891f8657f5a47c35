package proctest

import (
	"io"
	"sync"
)

// lockedWriter serializes the child's stdout and stderr copies with reads
// of the captured output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
