package shm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

const roleRefChild = "shm-ref-child" // args: parent pid, JSON refs; adopts fd 3 for the anonymous one

// refChild opens each reference it is given (the anonymous one through the
// adopted descriptor 3) and increments the first byte of each.
func refChild() int {
	args := proctest.Args()
	var refs []shm.Ref
	if err := json.Unmarshal([]byte(args[0]), &refs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, r := range refs {
		if r.Name == "" {
			shm.Adopt(r.PID, r.ID, 3)
		}
		seg, err := shm.OpenRef(r, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "open ref:", err)
			return 1
		}
		seg.Bytes()[0]++
		if err := seg.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// A reference nobody handed over fails cleanly.
	if _, err := shm.OpenRef(shm.Ref{PID: 1, ID: 99, Size: 1}, nil); !errors.Is(err, shm.ErrNoRef) {
		fmt.Fprintln(os.Stderr, "unknown anonymous ref:", err)
		return 1
	}
	return 0
}

func TestRefAcrossProcesses(t *testing.T) {
	named, err := shm.Create(proctest.Name(t), 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer named.Unlink()
	defer named.Close()
	anon, err := shm.Anonymous(8192)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	f, err := anon.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refs, _ := json.Marshal([]shm.Ref{named.Ref(), anon.Ref()})
	c := proctest.Start(t, roleRefChild, []string{string(refs)}, &proctest.Options{Files: []*os.File{f}})
	c.MustSucceed(t, time.Minute)
	if named.Bytes()[0] != 1 || anon.Bytes()[0] != 1 {
		t.Fatalf("child's writes not seen: %d %d", named.Bytes()[0], anon.Bytes()[0])
	}
}

func TestRefSameProcessAndLocate(t *testing.T) {
	anon, err := shm.Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	again, err := shm.OpenRef(anon.Ref(), nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Bytes()[10] = 42
	if anon.Bytes()[10] != 42 {
		t.Fatal("second mapping does not share memory")
	}
	b := anon.Bytes()
	ref, off, ok := shm.Locate(&b[100])
	if !ok || off != 100 || ref != anon.Ref() {
		t.Fatalf("Locate inside the first mapping: %v %d %v", ref, off, ok)
	}
	b2 := again.Bytes()
	if _, off, ok := shm.Locate(&b2[4095]); !ok || off != 4095 {
		t.Fatalf("Locate at the last byte: %d %v", off, ok)
	}
	type big [16]byte
	if _, _, ok := shm.Locate((*big)(nil)); ok {
		t.Fatal("Locate(nil) found a segment")
	}
	heap := new(int64)
	if _, _, ok := shm.Locate(heap); ok {
		t.Fatal("Locate found a heap value in a segment")
	}
	found := 0
	if err := shm.WithLive(func(segs []shm.LiveSegment) error {
		for _, s := range segs {
			if s.Ref == anon.Ref() || s.Ref.ID == again.Ref().ID {
				found++
				if s.Fd < 0 {
					t.Errorf("live segment without descriptor: %v", s)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if found != 2 {
		t.Fatalf("WithLive listed %d of our 2 mappings", found)
	}
	ref = again.Ref()
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.OpenRef(ref, nil); !errors.Is(err, shm.ErrNoRef) {
		t.Fatalf("reference to a closed anonymous segment: %v", err)
	}
	if (again.Ref() != shm.Ref{}) {
		t.Fatal("Ref after Close is not zero")
	}
}
