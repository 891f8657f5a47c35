package shm_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

const roleCreateAndExit = "shm-create-and-exit" // creates the named segment and exits without unlinking

func createAndExit() int {
	seg, err := shm.Create(proctest.Args()[0], 4096, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seg.Close()
	return 0
}

func TestAdmin(t *testing.T) {
	name := proctest.Name(t)
	seg, err := shm.Create(name, 8192, &shm.Options{Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Unlink()
	si, err := shm.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if si.Size != 8192 || si.Mode.Perm() != 0o640 || si.UID != os.Getuid() {
		t.Fatalf("Stat: %+v", si)
	}
	if !si.HasCreator {
		t.Skip("no user extended attributes on this tmpfs (Linux 6.6 adds them): creators are not recorded")
	}
	if si.Creator.Pid != os.Getpid() || !si.Creator.Alive() {
		t.Fatalf("creator %v alive %v", si.Creator, si.Creator.Alive())
	}
	all, err := shm.List()
	if err != nil || !slices.ContainsFunc(all, func(s shm.SegmentInfo) bool { return s.Name == name }) {
		t.Fatalf("List does not show %s: %v", name, err)
	}
	// Processes /proc does not let us inspect (here, perhaps a container's
	// init) are reported as ErrPermission next to what was found.
	hidden := func(err error) bool { return err == nil || errors.Is(err, os.ErrPermission) }
	users, err := shm.Users(name)
	if !hidden(err) || !slices.Contains(users, os.Getpid()) {
		t.Fatalf("Users while mapped: %v %v", users, err)
	}
	seg.Close()
	if users, err := shm.Users(name); !hidden(err) || slices.Contains(users, os.Getpid()) {
		t.Fatalf("Users after Close: %v %v", users, err)
	}

	// A creator that exited is not alive, and nobody uses its segment.
	orphan := proctest.Name(t)
	proctest.Start(t, roleCreateAndExit, []string{orphan}, nil).MustSucceed(t, time.Minute)
	defer shm.Unlink(orphan)
	si, err = shm.Stat(orphan)
	if err != nil || !si.HasCreator || si.Creator.Alive() {
		t.Fatalf("orphan: %+v alive %v %v", si, si.Creator.Alive(), err)
	}
	if users, err := shm.Users(orphan); !hidden(err) || len(users) != 0 {
		t.Fatalf("Users of an orphan: %v %v", users, err)
	}
	if _, err := shm.Stat("nosuch-" + orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat of a missing segment: %v", err)
	}
}
