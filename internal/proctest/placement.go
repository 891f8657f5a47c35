package proctest

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Placement is where a two-process benchmark runs: the parent (party 0)
// on one CPU, the child (party 1) on another, as the C baselines
// (internal/baseline) place their two processes.
//
// Two processes that share one CPU take turns by time slice: a lock
// between them is hardly ever contended, and a waiter's spin cannot see
// its peer's answer until the peer is scheduled. On two CPUs every
// hand-off moves cache lines between cores. Left to the scheduler, a busy
// machine mixes the two cases from one count to the next. Every thread of
// a pinned process is pinned, so no goroutine has to be locked to a
// thread. With fewer than two CPUs a Placement pins nothing.
type Placement struct {
	cpus [2]int
	ok   bool
}

// NewPlacement picks the first two CPUs this process may use, logging
// when there are fewer.
func NewPlacement(t testing.TB) Placement {
	var pl Placement
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		n := 0
		for cpu := 0; n < 2 && n < set.Count(); cpu++ {
			if set.IsSet(cpu) {
				pl.cpus[n] = cpu
				n++
			}
		}
		pl.ok = n == 2
	}
	if !pl.ok {
		t.Log("fewer than two CPUs available: the processes run unpinned")
	}
	return pl
}

// PeerArgs appends the child's CPU, if any, to a child role's arguments;
// the child calls PinChild with its index.
func (pl Placement) PeerArgs(args ...string) []string {
	if pl.ok {
		args = append(args, strconv.Itoa(pl.cpus[1]))
	}
	return args
}

// Pin runs this process on party's CPU (see PinProcess) until the
// returned function is called. Both do nothing when pl pins nothing.
func (pl Placement) Pin(t testing.TB, party int) (unpin func()) {
	if !pl.ok {
		return func() {}
	}
	unpin, err := PinProcess(pl.cpus[party])
	if err != nil {
		t.Fatalf("pin to CPU %d: %v", pl.cpus[party], err)
	}
	return unpin
}

// PinChild runs this child on the CPU given as its role's argument i (see
// PeerArgs), if there is one, for the rest of its life. It exits with
// status 2 if it cannot.
func PinChild(i int) {
	a := Args()
	if len(a) <= i {
		return
	}
	cpu, err := strconv.Atoi(a[i])
	if err == nil {
		_, err = PinProcess(cpu)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: pin to CPU %q: %v\n", a[i], err)
		os.Exit(2)
	}
}

// PinProcess sets the CPU affinity of every thread of this process to cpu,
// as taskset(1) does for a process, and returns the function that gives
// every thread the calling thread's former affinity back. A thread starts
// with its creator's affinity, so threads the runtime starts while pinned
// are pinned too.
func PinProcess(cpu int) (unpin func(), err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set.Set(cpu)
	if err := setProcessAffinity(&set); err != nil {
		_ = setProcessAffinity(&old)
		return nil, err
	}
	return func() { _ = setProcessAffinity(&old) }, nil
}

// setProcessAffinity sets the affinity of each thread in /proc/self/task,
// twice over, so that a thread started by a not-yet-pinned thread during
// the first pass is caught by the second.
func setProcessAffinity(set *unix.CPUSet) error {
	for range 2 {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tids {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				return err
			}
		}
	}
	return nil
}
