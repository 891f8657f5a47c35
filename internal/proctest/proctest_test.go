package proctest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var roles = map[string]Role{
	"echo-args": func() int {
		os.Stdout.WriteString(strings.Join(Args(), ",") + "\n")
		return 0
	},
	"exit3": func() int { return 3 },
	"hang": func() int {
		time.Sleep(time.Hour)
		return 0
	},
}

func TestMain(m *testing.M) { Main(m, roles) }

func TestStartRunsRole(t *testing.T) {
	c := Start(t, "echo-args", []string{"a", "b"}, nil)
	c.MustSucceed(t, time.Minute)
	if got := strings.TrimSpace(c.Output()); got != "a,b" {
		t.Fatalf("child output %q", got)
	}
	c = Start(t, "exit3", nil, nil)
	err := c.Wait(t, time.Minute)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit status: %v", err)
	}
}

func TestLeaksSeesSegmentAndChild(t *testing.T) {
	name := Name(t)
	if !strings.HasPrefix(name, Prefix()) {
		t.Fatalf("name %q outside prefix %q", name, Prefix())
	}
	if err := os.WriteFile(ShmDir+"/"+name, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Start(t, "hang", nil, nil)
	leaks := Leaks() // also removes the leaked segment
	c.Kill()
	joined := strings.Join(leaks, "\n")
	if !strings.Contains(joined, name) {
		t.Errorf("segment %s not reported: %v", name, leaks)
	}
	if !strings.Contains(joined, "child process") {
		t.Errorf("running child not reported: %v", leaks)
	}
	if _, err := os.Stat(ShmDir + "/" + name); !os.IsNotExist(err) {
		t.Errorf("leaked segment not removed: %v", err)
	}
	if l := Leaks(); len(l) != 0 {
		t.Fatalf("leaks after cleanup: %v", l)
	}
}
