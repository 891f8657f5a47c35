package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) {
	fork.Main()
	proctest.Main(m, map[string]proctest.Role{
		"create-and-exit": func() int {
			seg, err := shm.Create(proctest.Args()[0], 4096, nil)
			if err != nil {
				return 1
			}
			seg.Close()
			return 0
		},
	})
}

func TestDemoCounter(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"demo", "--workers", "3", "--n", "2000"}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", rc, out.String(), errb.String())
	}
	for _, want := range []string{
		"total 6000 (expected 6000)",
		"200000 items, sum 19999900000 (expected 19999900000)",
		"echoed 10000 messages",
		"squares of 1..10: [1 4 9 16 25 36 49 64 81 100]",
		"generation 2:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "increments in") != 3 {
		t.Fatalf("expected one line per counter process:\n%s", out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		want string
	}{
		{nil, 2, "Usage: shmkit <command>"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"demo", "--workers", "0"}, 1, "must be between 1 and 64"},
		{[]string{"demo", "--bogus"}, 1, "flag provided but not defined"},
		{[]string{"demo", "extra"}, 1, "unexpected arguments"},
		{[]string{"demo", "--help"}, 0, "Usage: shmkit demo"},
		{[]string{"help"}, 0, "Commands:"},
	} {
		var out, errb bytes.Buffer
		rc := run(tc.args, &out, &errb)
		if rc != tc.rc || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("shmkit %v: exit %d, output %q; want exit %d and %q", tc.args, rc, out.String()+errb.String(), tc.rc, tc.want)
		}
	}
}

func shmkit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := run(args, &out, &errb)
	return out.String() + errb.String(), rc
}

func TestAdminCommands(t *testing.T) {
	orphan, live, foreign := proctest.Name(t), proctest.Name(t), proctest.Name(t)
	proctest.Start(t, "create-and-exit", []string{orphan}, nil).MustSucceed(t, time.Minute)
	defer shm.Unlink(orphan)
	v, err := rawarray.NewArrayOptions[float64](10, &rawarray.Options{Name: live, Code: "d"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	defer v.Unlink()
	// As Python or C would leave it: no recorded creator.
	if err := os.WriteFile(shm.Dir+"/"+foreign, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	defer shm.Unlink(foreign)

	out, rc := shmkit(t, "ls", "--json")
	if rc != 0 {
		t.Fatalf("ls: %d %s", rc, out)
	}
	var rows []segmentRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err, out)
	}
	byName := map[string]segmentRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	if r := byName[live]; r.Kind != "rawarray v1 Array<d>[10], unlocked" || r.Alive == nil || !*r.Alive {
		t.Fatalf("ls of a live rawarray: %+v", r)
	}
	if r := byName[foreign]; r.Kind != "-" || r.Creator != "" || r.Size != 100 {
		t.Fatalf("ls of a foreign segment: %+v", r)
	}
	if r := byName[orphan]; r.Alive == nil || *r.Alive {
		t.Skipf("creators are not recorded here (tmpfs without user xattrs): %+v", r)
	}
	out, rc = shmkit(t, "ls")
	if rc != 0 || !strings.Contains(out, orphan) || !strings.Contains(out, "(gone)") {
		t.Fatalf("ls table: %d\n%s", rc, out)
	}

	out, rc = shmkit(t, "stat", live)
	if rc != 0 || !strings.Contains(out, "rawarray v1 Array<d>[10]") || !strings.Contains(out, "users") {
		t.Fatalf("stat: %d\n%s", rc, out)
	}
	if _, rc = shmkit(t, "stat", "nosuch-"+live); rc == 0 {
		t.Fatal("stat of a missing segment succeeded")
	}

	out, rc = shmkit(t, "gc", "--dry-run", "--ignore-hidden")
	if rc != 0 || !strings.Contains(out, "would remove "+orphan) || strings.Contains(out, live) || strings.Contains(out, foreign) {
		t.Fatalf("gc --dry-run: %d\n%s", rc, out)
	}
	if _, err := os.Stat(shm.Dir + "/" + orphan); err != nil {
		t.Fatal("dry run removed a segment")
	}
	out, rc = shmkit(t, "gc", "--ignore-hidden")
	if rc != 0 || !strings.Contains(out, "removed "+orphan) {
		t.Fatalf("gc: %d\n%s", rc, out)
	}
	for name, want := range map[string]bool{orphan: false, live: true, foreign: true} {
		if _, err := os.Stat(shm.Dir + "/" + name); (err == nil) != want {
			t.Fatalf("after gc, %s exists=%v, want %v", name, err == nil, want)
		}
	}

	out, rc = shmkit(t, "rm", foreign)
	if rc != 0 || !strings.Contains(out, "removed "+foreign) {
		t.Fatalf("rm: %d %s", rc, out)
	}
	if _, rc = shmkit(t, "rm", foreign); rc == 0 {
		t.Fatal("rm of a missing segment succeeded")
	}
	if _, rc = shmkit(t, "rm"); rc == 0 {
		t.Fatal("rm without names succeeded")
	}
}

// TestLsKinds: ls recognizes the shmkit structures in named segments and
// says what state they are in.
func TestLsKinds(t *testing.T) {
	ctx := context.Background()
	ringName := proctest.Name(t)
	seg, err := shm.Create(ringName, int64(ring.SPSCSize(8, 64)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Unlink()
	defer seg.Close()
	r, err := ring.NewSPSC(seg.Bytes(), 8, 64)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.TrySend([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	v, err := rawarray.NewValueOptions[int64](0, &rawarray.Options{Name: proctest.Name(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	defer v.Unlink()
	v.Lock()
	defer v.Unlock()
	mname := proctest.Name(t)
	m, err := manager.Open(ctx, "shm:"+mname, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx)
	if _, err := manager.OpenDict[string, int64](ctx, m, "d"); err != nil {
		t.Fatal(err)
	}
	out, rc := shmkit(t, "ls")
	if rc != 0 {
		t.Fatalf("ls: %d %s", rc, out)
	}
	for _, want := range []string{
		"ring SPSC v2, 3/8 messages of up to 64 bytes",
		fmt.Sprintf("rawarray v1 Value<q>, locked by process %d", os.Getpid()),
		"manager directory v1 page 0 of 1, unlocked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ls output lacks %q:\n%s", want, out)
		}
	}
}
