package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/proctest"
)

func TestMain(m *testing.M) {
	if isDemoWorker() {
		os.Exit(demoWorker())
	}
	proctest.Main(m, nil)
}

func TestDemoCounter(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"demo", "--workers", "3", "--n", "2000"}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", rc, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "total 6000 (expected 6000)") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	if strings.Count(out.String(), "increments in") != 3 {
		t.Fatalf("expected one line per worker:\n%s", out.String())
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
