package goid

import (
	"sync"
	"testing"
)

func TestCurrent(t *testing.T) {
	me := Current()
	if me == 0 || Current() != me {
		t.Fatalf("unstable or zero id %#x", me)
	}
	const n = 100
	ids := make([]uintptr, n)
	var wg, recorded sync.WaitGroup
	release := make(chan struct{})
	for i := range n {
		wg.Add(1)
		recorded.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = Current()
			for range 1000 {
				if Current() != ids[i] {
					t.Error("id changed within a goroutine")
					break
				}
			}
			recorded.Done()
			<-release // stay alive until every id is taken: they must differ
		}()
	}
	recorded.Wait()
	close(release)
	wg.Wait()
	seen := map[uintptr]bool{me: true}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("two live goroutines share id %#x", id)
		}
		seen[id] = true
	}
}

func BenchmarkCurrent(b *testing.B) {
	for b.Loop() {
		_ = Current()
	}
}
