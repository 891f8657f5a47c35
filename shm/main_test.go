package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// Roles played by re-executed copies of the test binary.
const (
	roleAnonChild    = "shm-anon-child"    // maps fd 3 with FromFd, checks, replies
	roleNamedChild   = "shm-named-child"   // opens a segment by name, checks, replies
	roleReserveChild = "shm-reserve-child" // in new user+mount namespaces: full tmpfs
)

// exitSkip is the status a role returns when its environment cannot run it
// (the parent then skips with the reason the child printed).
const exitSkip = 77

func TestMain(m *testing.M) {
	proctest.Main(m, map[string]proctest.Role{
		roleAnonChild:     anonChild,
		roleNamedChild:    namedChild,
		roleReserveChild:  reserveChild,
		roleRefChild:      refChild,
		roleCreateAndExit: createAndExit,
	})
}

// pattern returns n bytes that differ from zero and from a pattern with
// another seed, so a check sees misplaced, missing and stale bytes.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ seed ^ byte(i>>8)
	}
	return p
}

// replyOffset is where a child writes its reply in a segment of size n.
func replyOffset(n int) int { return n - 64 }

func replyFrom(pid int) []byte { return []byte("reply from pid " + strconv.Itoa(pid)) }

func childFail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	return 1
}

// checkAndReply verifies the parent's pattern (seed in args[0]) and writes
// this process's reply.
func checkAndReply(seg *shm.Segment, seedArg string) int {
	seed, err := strconv.Atoi(seedArg)
	if err != nil {
		return childFail("bad seed %q: %v", seedArg, err)
	}
	b := seg.Bytes()
	off := replyOffset(len(b))
	if want := pattern(off, byte(seed)); !bytes.Equal(b[:off], want) {
		return childFail("pattern mismatch in %v", seg)
	}
	copy(b[off:], replyFrom(os.Getpid()))
	return 0
}

// anonChild: args are the pattern seed. fd 3 is an anonymous segment.
func anonChild() int {
	args := proctest.Args()
	seg, err := shm.FromFd(3, nil)
	if err != nil {
		return childFail("FromFd(3): %v", err)
	}
	defer seg.Close()
	if seg.Name() != "" {
		return childFail("Name() = %q, want empty", seg.Name())
	}
	// The creator sealed it: this process cannot shrink it under the parent.
	if err := unix.Ftruncate(seg.Fd(), seg.Size()/2); !errors.Is(err, unix.EPERM) {
		return childFail("ftruncate to half: %v, want EPERM", err)
	}
	return checkAndReply(seg, args[0])
}

// namedChild: args are the segment name and the pattern seed.
func namedChild() int {
	args := proctest.Args()
	seg, err := shm.Open(args[0], nil)
	if err != nil {
		return childFail("Open(%q): %v", args[0], err)
	}
	defer seg.Close()
	return checkAndReply(seg, args[1])
}
