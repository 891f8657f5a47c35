package locks

import (
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

// shared is the test fixture laid out in a segment that parent and child
// processes map: one of each primitive, plus bookkeeping the tests check.
type shared struct {
	mu      Mutex
	rm      RMutex
	sem     Semaphore
	cond    Cond
	condMu  Mutex
	ev      Event
	go_     Event // "go ahead" from the parent
	bar     Barrier
	counter int64
	inside  int32
	maxIn   int32
	arrived uint32
	woken   uint32
	holding uint32
	op      int32
	seen    [barrierGens][barrierParties]uint32
	locks   [killLocks]Mutex
	held    [killLocks]uint32
	pingA   Event
	pingB   Event
	semA    Semaphore
	semB    Semaphore
	stop    uint32
	_       uint32
}

const (
	barrierGens    = 20
	barrierParties = 3
	killLocks      = 100
)

func newShared(t testing.TB) (string, *shared) {
	t.Helper()
	name := proctest.Name(t)
	seg, err := shm.Create(name, 1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = seg.Unlink()
		_ = seg.Close()
	})
	s, err := ctypes.View[shared](seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return name, s
}

// openShared maps the fixture in a child. The segment stays mapped until
// the child exits.
// openedSegs keeps the segments children open reachable: a segment that
// becomes unreachable is unmapped by its cleanup, under the view.
var openedSegs []*shm.Segment

func openShared(name string) *shared {
	seg, err := shm.Open(name, nil)
	if err != nil {
		proctest.Fail("open: %v", err)
	}
	openedSegs = append(openedSegs, seg)
	s, err := ctypes.View[shared](seg.Bytes())
	if err != nil {
		proctest.Fail("view: %v", err)
	}
	return s
}

func TestMain(m *testing.M) {
	proctest.Main(m, roles)
}

func openSharedSeg(t testing.TB, seg *shm.Segment) *shared {
	t.Helper()
	s, err := ctypes.View[shared](seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
