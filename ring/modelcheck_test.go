package ring

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/race"
)

// What the exhaustive models of the sleep/wake protocol (model_test.go)
// and of Select (select_model_test.go) share: the explorer of every
// interleaving, the step of wait.go's bump that both model, and the test
// loops that run a model's cases and its mutants (and skip under -race).

// explore runs every interleaving of threads from init (breadth first)
// and returns the number of states and the first violation, with the
// trace leading to it: a step error; in a final state (no thread can
// move), a thread that is not done, since one asleep there has no one left
// to wake it (a lost wake-up); or a final state that final rejects.
// pc(s, i) returns thread i's program counter in s and whether it is done.
func explore[S comparable](init S, threads int, step func(S, int) ([]S, error),
	pc func(S, int) (uint8, bool), final func(S) error) (int, error) {
	type edge struct {
		from   S
		thread int
	}
	parent := map[S]edge{init: {thread: -1}}
	queue := []S{init}
	trace := func(s S) string {
		var steps []string
		for e := parent[s]; e.thread >= 0; e = parent[e.from] {
			steps = append(steps, fmt.Sprintf("t%d", e.thread))
		}
		for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
			steps[i], steps[j] = steps[j], steps[i]
		}
		return strings.Join(steps, " ")
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		moved := false
		for i := range threads {
			next, err := step(s, i)
			if err != nil {
				return len(parent), fmt.Errorf("%v\n\tstate %+v\n\ttrace %s", err, s, trace(s))
			}
			for _, n := range next {
				moved = true
				if _, ok := parent[n]; !ok {
					parent[n] = edge{s, i}
					queue = append(queue, n)
				}
			}
		}
		if moved {
			continue
		}
		// A final state: no thread can move.
		for i := range threads {
			if at, done := pc(s, i); !done {
				return len(parent), fmt.Errorf("lost wake-up: thread %d stuck at pc %d\n\tstate %+v\n\ttrace %s",
					i, at, s, trace(s))
			}
		}
		if err := final(s); err != nil {
			return len(parent), fmt.Errorf("%v\n\tstate %+v\n\ttrace %s", err, s, trace(s))
		}
	}
	return len(parent), nil
}

// bumpStep runs one step of wait.go's bump (Close) on word, for a thread
// at pc, which is load or cas, whose loaded value is v. At load it loads
// the word and moves to cas. At cas, if the word still holds v, it sets
// the sleepers bit and bumps the sequence, whether or not the bit was set,
// and returns true: the caller then wakes every sleeper on the word, in
// the same step, and moves on; if the word changed, it goes back to load.
func bumpStep(pc *uint8, v, word *int8, load, cas uint8) bool {
	switch *pc {
	case load:
		*v = *word
		*pc = cas
	case cas:
		if *word == *v {
			*word = (*v | 1) + 1
			return true
		}
		*pc = load
	}
	return false
}

// skipUnderRace skips a model test under -race: a model is
// single-goroutine code, so the detector would only slow it down.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("pure model code; nothing for the race detector to see")
	}
}

// noLostWakeup explores a case of the correct protocol (in its subtest):
// check must find no violation. It logs the number of states explored.
func noLostWakeup(t *testing.T, check func() (int, error)) {
	t.Helper()
	n, err := check()
	if err != nil {
		t.Fatalf("%d states: %v", n, err)
	}
	t.Logf("%d states, no lost wake-up", n)
}

// mutantsCaught is a model's negative control: each mutant, a deliberately
// broken protocol, must fail check(c, mut) in at least one case. It tries
// the cases in order, only those for which tries(c, mut) holds (nil: all),
// logs the first that catches the mutant, and fails the test if none does.
func mutantsCaught[C any, M ~int](t *testing.T, mutants []M, cases []C, name func(C) string,
	tries func(C, M) bool, check func(C, M) error) {
	t.Helper()
	for _, mut := range mutants {
		caught := ""
		for _, c := range cases {
			if tries != nil && !tries(c, mut) {
				continue
			}
			if err := check(c, mut); err != nil {
				caught = name(c)
				t.Logf("mutant %d caught in %s: %v", mut, caught, strings.SplitN(err.Error(), "\n", 2)[0])
				break
			}
		}
		if caught == "" {
			t.Errorf("mutant %d: no case finds the bug", mut)
		}
	}
}
