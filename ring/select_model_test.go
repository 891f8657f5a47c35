package ring

import (
	"fmt"
	"testing"
)

// An exhaustive check of Select's sleep protocol (select.go), in the
// style of model_test.go: two sources, each an SPSC ring with its
// producer or a locks.Event with its setter, and one selector thread that
// Selects over both and acts on what it finds (TryRecv on a ring, which
// publishes head and runs the waker's step on notFull; dropping an event
// case once it saw it set; dropping a ring case at ErrClosed, or, without
// Close, after its last message). Every step is one atomic operation of
// the real code, in its order; spinning instead of sleeping is a
// nondeterministic choice; futex waits neither time out nor wake
// spuriously. The checker asserts that every execution ends with every
// thread done (a lost wake-up leaves the selector or a producer asleep
// with no one to wake it), and that the selector received every message.
//
// An idle source (an event nobody sets) stands for a case that stays
// quiet while the selector waits for the other.
//
// Mutants must be caught: a Select that sleeps without re-checking, one
// that announces on its first word only, and one that waits with values
// read after the re-check instead of the announced ones.

type selMutant int

const (
	selCorrect     selMutant = iota
	selNoRecheck             // wait right after announcing
	selAnnounceOne           // set the sleepers bit on the first live word only
	selFreshValue            // wait with values re-read after the re-check
)

// Program counters.
const (
	spDone uint8 = iota
	// producer of a ring
	spTry // load tail (own) and head
	spPub // store tail+1
	spWk1 // load notEmpty
	spWk2 // CAS it
	spWk3 // FUTEX_WAKE notEmpty
	spW1  // full: load notFull
	spW2  // CAS the sleepers bit
	spW3  // re-check: load head
	spW4  // FUTEX_WAIT notFull
	spC1  // Close: OR closed bit
	spC2  // bump notEmpty: load
	spC3  // bump notEmpty: CAS + wake
	spC4  // bump notFull: load
	spC5  // bump notFull: CAS + wake
	spAsleep
	// setter of an event
	seSet  // swap word to 1
	seWake // FUTEX_WAKE the word
	// selector
	ssCheck // ready check of case k (load tail_k, or the event word)
	ssAnn1  // announce on case k: load word
	ssAnn2  // announce on case k: CAS bit
	ssRe    // re-check case k
	ssFresh // mutant: re-read word k
	ssWait  // futex_waitv on the live words
	ssAct1  // TryRecv on ring k: load tail
	ssAct2  // TryRecv: store head+1
	ssWk1   // load notFull_k
	ssWk2   // CAS it
	ssWk3   // FUTEX_WAKE notFull_k
)

type selRingState struct {
	tail, head int8
	closed     bool
	ne, nf     int8 // notEmpty, notFull: sequence<<1 | sleepers bit
}

type selThread struct {
	pc   uint8
	k    int8    // selector: the case at hand
	n    int8    // producer: sent
	t, v int8    // loaded values
	vs   [2]int8 // selector: announced values
	got  [2]int8 // selector: received per case
	gone [2]bool // selector: cases it switched off
	on   uint8   // asleep on: bit w for word w (see wordID)
}

type selState struct {
	r  [2]selRingState
	ev [2]int8 // event words: bit 0 set, bit 1 waiters
	th [3]selThread
}

type selModel struct {
	event  [2]bool // source k is an event (else a ring)
	idle   [2]bool // source k is an event that nobody sets
	slots  int8
	msgs   int8 // per ring
	close  bool // producers close their ring after the last message
	noSpin bool
	mut    selMutant
}

// Word ids for sleeping and waking: notEmpty or the event word of source
// k is k, notFull of ring k is 2+k.
func wordBit(id int) uint8 { return 1 << id }

func futexWakeSel(s *selState, id int) {
	for i := range s.th {
		if s.th[i].pc == spAsleep && s.th[i].on&wordBit(id) != 0 {
			s.th[i].on = 0
			if i == 2 {
				s.th[i].pc, s.th[i].k = ssCheck, 0
			} else {
				s.th[i].pc = spTry
			}
		}
	}
}

// word returns the selector's word for case k and its announce bit.
func (m *selModel) word(s *selState, k int) (*int8, int8) {
	if m.event[k] {
		return &s.ev[k], 2
	}
	return &s.r[k].ne, 1
}

func (m *selModel) step(s selState, i int) ([]selState, error) {
	th := &s.th[i]
	if th.pc == spDone || th.pc == spAsleep {
		return nil, nil
	}
	if i == 2 {
		return m.stepSelector(s)
	}
	if m.event[i] {
		switch th.pc {
		case seSet:
			old := s.ev[i]
			s.ev[i] = 1
			if old&2 != 0 {
				th.pc = seWake
			} else {
				th.pc = spDone
			}
		case seWake:
			futexWakeSel(&s, i)
			th.pc = spDone
		}
		return []selState{s}, nil
	}
	r := &s.r[i]
	switch th.pc {
	case spTry: // tail is the producer's own; load head
		if r.tail-r.head == m.slots {
			if m.noSpin {
				th.pc = spW1
				return []selState{s}, nil
			}
			spin := s
			spin.th[i].pc = spTry
			th.pc = spW1
			return []selState{s, spin}, nil
		}
		th.pc = spPub
	case spPub:
		r.tail++
		th.n++
		th.pc = spWk1
	case spWk1:
		th.v = r.ne
		if th.v&1 == 0 {
			m.producerNext(&s, i)
		} else {
			th.pc = spWk2
		}
	case spWk2:
		if r.ne == th.v {
			r.ne = th.v + 1
			th.pc = spWk3
		} else {
			th.pc = spWk1
		}
	case spWk3:
		futexWakeSel(&s, i)
		m.producerNext(&s, i)
	case spW1:
		th.v = r.nf
		if th.v&1 != 0 {
			th.pc = spW3
		} else {
			th.pc = spW2
		}
	case spW2:
		if r.nf == th.v {
			r.nf = th.v | 1
			th.v |= 1
			th.pc = spW3
		} else {
			th.pc = spTry
		}
	case spW3:
		if r.tail-r.head < m.slots {
			th.pc = spTry
		} else {
			th.pc = spW4
		}
	case spW4:
		if r.nf != th.v {
			th.pc = spTry
		} else {
			th.pc, th.on = spAsleep, wordBit(2+i)
		}
	case spC1:
		r.closed = true
		th.pc = spC2
	case spC2, spC3: // bump notEmpty
		if bumpStep(&th.pc, &th.v, &r.ne, spC2, spC3) {
			futexWakeSel(&s, i)
			th.pc = spC4
		}
	case spC4, spC5: // bump notFull
		if bumpStep(&th.pc, &th.v, &r.nf, spC4, spC5) {
			futexWakeSel(&s, 2+i)
			th.pc = spDone
		}
	default:
		return nil, fmt.Errorf("producer %d at pc %d", i, th.pc)
	}
	return []selState{s}, nil
}

func (m *selModel) producerNext(s *selState, i int) {
	th := &s.th[i]
	switch {
	case th.n < m.msgs:
		th.pc = spTry
	case m.close:
		th.pc = spC1
	default:
		th.pc = spDone
	}
}

// ready is the selector's check of case k, one load: of tail (head is
// its own) or of the event word.
func (m *selModel) ready(s *selState, k int) bool {
	if m.event[k] {
		return s.ev[k]&1 != 0
	}
	return s.r[k].tail != s.r[k].head || s.r[k].closed
}

// nextLive returns the first live case at or after k, or 2.
func nextLive(th *selThread, k int) int {
	for k < 2 && th.gone[k] {
		k++
	}
	return k
}

func (m *selModel) stepSelector(s selState) ([]selState, error) {
	th := &s.th[2]
	k := int(th.k)
	switch th.pc {
	case ssCheck:
		k = nextLive(th, k)
		if k == 2 {
			if (th.gone[0] || m.idle[0]) && (th.gone[1] || m.idle[1]) {
				th.pc = spDone
				return []selState{s}, nil
			}
			// Nothing ready: spin, or go to sleep.
			spin := s
			spin.th[2].k = 0
			th.pc, th.k = ssAnn1, int8(nextLive(th, 0))
			if m.noSpin {
				return []selState{s}, nil
			}
			return []selState{s, spin}, nil
		}
		if m.ready(&s, k) {
			th.pc, th.k = ssAct1, int8(k)
		} else {
			th.k = int8(k + 1)
		}
	case ssAnn1, ssAnn2:
		w, bit := m.word(&s, k)
		if th.pc == ssAnn1 {
			th.v = *w
			if th.v&bit != 0 || (m.mut == selAnnounceOne && k != nextLive(th, 0)) {
				th.vs[k] = th.v
				m.afterAnnounce(th, k)
			} else {
				th.pc = ssAnn2
			}
			break
		}
		if *w != th.v {
			th.pc, th.k = ssCheck, 0 // the word changed: re-check
			break
		}
		*w = th.v | bit
		th.vs[k] = th.v | bit
		m.afterAnnounce(th, k)
	case ssRe:
		if m.ready(&s, k) {
			th.pc = ssAct1
			break
		}
		if k = nextLive(th, k+1); k < 2 {
			th.k = int8(k)
			break
		}
		th.pc, th.k = ssWait, 0
		if m.mut == selFreshValue {
			th.pc, th.k = ssFresh, int8(nextLive(th, 0))
		}
	case ssFresh:
		w, _ := m.word(&s, k)
		th.vs[k] = *w
		if k = nextLive(th, k+1); k < 2 {
			th.k = int8(k)
		} else {
			th.pc, th.k = ssWait, 0
		}
	case ssWait:
		var on uint8
		for k := range 2 {
			if th.gone[k] {
				continue
			}
			if w, _ := m.word(&s, k); *w != th.vs[k] {
				th.pc, th.k = ssCheck, 0 // EAGAIN
				return []selState{s}, nil
			}
			on |= wordBit(k)
		}
		th.pc, th.on = spAsleep, on
	case ssAct1:
		if m.event[k] { // the caller saw the event: switch the case off
			th.got[k]++
			th.gone[k] = true
			th.pc, th.k = ssCheck, 0
			break
		}
		th.t = s.r[k].tail
		if th.t == s.r[k].head && s.r[k].closed {
			th.gone[k] = true // ErrClosed
			th.pc, th.k = ssCheck, 0
		} else if th.t == s.r[k].head {
			return nil, fmt.Errorf("selector: case %d ready but its ring is empty and open", k)
		} else {
			th.pc = ssAct2
		}
	case ssAct2:
		s.r[k].head++
		th.got[k]++
		if !m.close && th.got[k] == m.msgs {
			th.gone[k] = true
		}
		th.pc = ssWk1
	case ssWk1:
		th.v = s.r[k].nf
		if th.v&1 == 0 {
			th.pc, th.k = ssCheck, 0
		} else {
			th.pc = ssWk2
		}
	case ssWk2:
		if s.r[k].nf == th.v {
			s.r[k].nf = th.v + 1
			th.pc = ssWk3
		} else {
			th.pc = ssWk1
		}
	case ssWk3:
		futexWakeSel(&s, 2+k)
		th.pc, th.k = ssCheck, 0
	default:
		return nil, fmt.Errorf("selector at pc %d", th.pc)
	}
	return []selState{s}, nil
}

// afterAnnounce moves to the next live case to announce on, or to the
// re-check.
func (m *selModel) afterAnnounce(th *selThread, k int) {
	if k = nextLive(th, k+1); k < 2 {
		th.pc, th.k = ssAnn1, int8(k)
		return
	}
	th.pc, th.k = ssRe, int8(nextLive(th, 0))
	if m.mut == selNoRecheck {
		th.pc, th.k = ssWait, 0
	}
}

// check explores every interleaving from the initial state (see explore):
// every final state must have every thread done (one asleep there is a
// lost wake-up) and the selector must have received everything.
func (m *selModel) check() (int, error) {
	var init selState
	for k := range 2 {
		init.th[k].pc = spTry
		switch {
		case m.idle[k]:
			init.th[k].pc = spDone
		case m.event[k]:
			init.th[k].pc = seSet
		}
	}
	init.th[2].pc = ssCheck
	pc := func(s selState, i int) (uint8, bool) { return s.th[i].pc, s.th[i].pc == spDone }
	return explore(init, len(init.th), m.step, pc, func(s selState) error {
		for k := range 2 {
			want := m.msgs
			switch {
			case m.idle[k]:
				want = 0
			case m.event[k]:
				want = 1
			}
			if got := s.th[2].got[k]; got != want {
				return fmt.Errorf("case %d: received %d, want %d", k, got, want)
			}
		}
		return nil
	})
}

func TestModelSelect(t *testing.T) {
	skipUnderRace(t)
	type selCase struct {
		name string
		m    selModel
	}
	cases := []selCase{
		{"2rings/1slot", selModel{slots: 1, msgs: 2}},
		{"2rings/1slot/close", selModel{slots: 1, msgs: 1, close: true}},
		{"2rings/2slots/close", selModel{slots: 2, msgs: 2, close: true, noSpin: true}},
		{"ring+event/close", selModel{event: [2]bool{false, true}, slots: 1, msgs: 2, close: true}},
		{"event+ring", selModel{event: [2]bool{true, false}, slots: 1, msgs: 2}},
		{"2events", selModel{event: [2]bool{true, true}}},
		// An event nobody sets, first: only the ring's word can wake the
		// selector.
		{"idle-event+ring", selModel{event: [2]bool{true, false}, idle: [2]bool{true, false}, slots: 1, msgs: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			noLostWakeup(t, m.check)
		})
	}
	mutantsCaught(t, []selMutant{selNoRecheck, selAnnounceOne, selFreshValue}, cases,
		func(c selCase) string { return c.name }, nil,
		func(c selCase, mut selMutant) error {
			m := c.m
			m.mut = mut
			_, err := m.check()
			return err
		})
}
