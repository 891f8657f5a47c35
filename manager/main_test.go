package manager_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/manager"
)

// requireRedisEnv makes a missing redis-server a failure instead of a skip
// (CI sets it: the Redis tests must run there).
const requireRedisEnv = "SHMKIT_REQUIRE_REDIS"

// redisURLEnv carries the test server's URL to child processes.
const redisURLEnv = "SHMKIT_TEST_REDIS_URL"

var (
	redisURL  string // "" when no server
	redisSkip string // why there is none
)

func TestMain(m *testing.M) {
	if proctest.IsChild() {
		redisURL = os.Getenv(redisURLEnv)
		proctest.Main(m, roles)
		return
	}
	stop := startRedis()
	code := 0
	func() {
		defer stop()
		// proctest.Main exits; run the tests through a wrapper that returns.
		code = m.Run()
	}()
	// Check for leaks once the server is stopped: it is a child process.
	os.Exit(checkLeaks(code))
}

func checkLeaks(code int) int {
	if leaks := proctest.Leaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "proctest: leak check failed:\n\t%s\n", strings.Join(leaks, "\n\t"))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// startRedis starts a private redis-server on a free loopback port, with
// no persistence, for the whole test binary.
func startRedis() (stop func()) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		redisSkip = "redis-server not installed (apt-get install redis-server); Redis backend tests skipped"
		return func() {}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		redisSkip = "no loopback port: " + err.Error()
		return func() {}
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		redisSkip = "starting redis-server: " + err.Error()
		return func() {}
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent && strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			redisSkip = "redis-server exited at start"
			_ = cmd.Wait()
			return func() {}
		}
	case <-time.After(30 * time.Second):
		redisSkip = "redis-server did not start in 30 s"
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return func() {}
	}
	redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	os.Setenv(redisURLEnv, redisURL)
	return func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// backendURL is one backend under test: a fresh manager URL per call.
type backendURL struct {
	name string
	url  func(t testing.TB) string
}

// backends lists the backends every conformance test runs on.
func backends(t *testing.T) []backendURL {
	bs := []backendURL{{"shm", func(t testing.TB) string { return "shm:" + proctest.Name(t) }}}
	if redisURL == "" {
		if os.Getenv(requireRedisEnv) != "" {
			t.Fatalf("Redis required (%s set) but unavailable: %s", requireRedisEnv, redisSkip)
		}
		t.Logf("skipping the Redis backend: %s", redisSkip)
		return bs
	}
	return append(bs, backendURL{"redis", func(t testing.TB) string {
		// Managers share one server; each test gets its own key prefix
		// through a distinct ?prefix= name, and Destroy removes its keys.
		return redisURL + "?name=" + proctest.Name(t)
	}})
}

// forEachBackend runs f on every backend with a fresh manager that is
// destroyed afterwards.
func forEachBackend(t *testing.T, f func(t *testing.T, url string, m *manager.Manager)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			m := open(t, url)
			t.Cleanup(func() {
				if err := m.Destroy(context.Background()); err != nil {
					t.Errorf("Destroy: %v", err)
				}
			})
			f(t, url, m)
		})
	}
}

func open(t testing.TB, url string) *manager.Manager {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := manager.Open(ctx, url, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	return m
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
