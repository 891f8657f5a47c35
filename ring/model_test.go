package ring

import (
	"fmt"
	"os"
	"testing"
)

// An exhaustive check of the sleep/wake protocol (see wait.go).
//
// The model is the rings' control words, their futex words and a kernel
// futex, plus a few threads — producers, consumers and a closer — each a
// small state machine whose every step is one atomic operation of the real
// code, in the real code's order (the operations of sync/atomic are
// sequentially consistent, so interleaving whole steps is exact). explore
// runs every interleaving, and spinning (retrying instead of sleeping) is a
// nondeterministic choice. Futex waits neither time out nor wake
// spuriously in the model: the backstop is not allowed to hide a lost
// wake-up. The checker then asserts that:
//
//   - every execution ends with every thread done: no state is reachable in
//     which a thread sleeps and no one is left to wake it (a lost wake-up
//     shows as exactly that);
//   - at the end, the consumers received every message the producers
//     sent (Close loses nothing);
//   - no thread ever sees a state the real code reports as ErrCorrupt.
//
// Mutants of the protocol (a re-check against a stale observation, a
// waker that skips the wake-up, a sleeper that does not re-check) must
// fail, which shows the checker can see the bug it is there for.

// Program counters. Producers and consumers share the wait and wake
// sub-machines.
const (
	pcDone    uint8 = iota
	pcTry           // load tail
	pcTry2          // SPSC: load head; MPMC producer: load seq; MPMC consumer: load seq
	pcTry3          // MPMC consumer: load tail (empty or in progress?)
	pcClaim         // CAS tail or head
	pcPublish       // SPSC: CAS tail / store head; MPMC: CAS seq
	pcWake1         // load the peer's word
	pcWake2         // CAS it (clear bit, bump)
	pcWake3         // FUTEX_WAKE
	pcWait1         // load own word
	pcWait2         // CAS the sleepers bit
	pcWait3         // re-check, first load
	pcWait4         // re-check, second load
	pcWait5         // FUTEX_WAIT
	pcAsleep        // in the kernel
	pcClose1        // OR closed bit
	pcClose2        // bump notEmpty (load)
	pcClose3        // bump notEmpty (CAS + wake)
	pcClose4        // bump notFull (load)
	pcClose5        // bump notFull (CAS + wake)
	pcWait6         // MPMC consumer re-check, third load
	pcObserve       // mutant staleRecheck: load tail after the failed attempt
)

const (
	roleProd uint8 = iota
	roleCons
	roleCloser
)

const maxThreads = 5

type mthread struct {
	pc, role uint8
	n        int8  // messages sent or received
	t, h, v  int8  // loaded values (positions, a word)
	obs      int8  // mutant: observation before the sleep
	closed   bool  // closed bit seen by the last load of tail
	afterAll bool  // closer: waits until every producer is done
	on       uint8 // asleep on: 1 notEmpty, 2 notFull
	pre      bool  // mutant wakeBeforePub: waking before publishing
}

type mstate struct {
	tail, head int8
	closed     bool
	ne, nf     int8 // notEmpty, notFull: sequence<<1 | sleepers bit
	seq        [4]int8
	th         [maxThreads]mthread
}

type mutant int

const (
	correct       mutant = iota
	staleRecheck         // re-check compares tail with a value loaded after the failed attempt
	noRecheck            // sleep without re-checking the ring
	noWake               // waker never wakes
	wakeBeforePub        // waker looks at the word before publishing
	narrowRecheck        // MPMC re-check: "not published" instead of "waits for a producer"
)

type model struct {
	mpmc     bool
	slots    int8
	msgs     int8 // per producer
	nthreads int
	mut      mutant
	noSpin   bool
}

// step runs one atomic step of thread i and returns the successor states
// (none if it is done or asleep; two where spinning is an option).
func (m *model) step(s mstate, i int) ([]mstate, error) {
	th := &s.th[i]
	switch th.pc {
	case pcDone, pcAsleep:
		return nil, nil
	}
	if th.role == roleCloser {
		return m.stepCloser(s, i)
	}
	// The wait and wake sub-machines, the same for both rings: a producer
	// sleeps on notFull and wakes notEmpty, a consumer the other way round.
	own, peer, on, peerOn := &s.nf, &s.ne, uint8(2), uint8(1)
	if th.role != roleProd {
		own, peer, on, peerOn = &s.ne, &s.nf, 1, 2
	}
	switch th.pc {
	case pcWake1, pcWake2, pcWake3:
		m.wake(&s, i, peer, peerOn)
		return []mstate{s}, nil
	case pcObserve, pcWait1, pcWait2, pcWait5:
		m.sleepStep(&s, i, own, on)
		return []mstate{s}, nil
	}
	if m.mpmc {
		return m.stepMPMC(s, i)
	}
	return m.stepSPSC(s, i)
}

// next finishes a message: the producer sends another or is done; the
// consumer receives another.
func (m *model) next(s *mstate, i int) {
	th := &s.th[i]
	if th.role == roleProd && th.n == m.msgs {
		th.pc = pcDone
		return
	}
	th.pc = pcTry
}

// wake runs the waker's step (wait.go, step 4) on the peer's word; at the
// end it continues with next.
func (m *model) wake(s *mstate, i int, word *int8, on uint8) {
	th := &s.th[i]
	switch th.pc {
	case pcWake1:
		th.v = *word
		if m.mut == noWake || th.v&1 == 0 {
			m.done(s, i)
		} else {
			th.pc = pcWake2
		}
	case pcWake2:
		if *word == th.v {
			*word = th.v + 1
			th.pc = pcWake3
		} else {
			th.pc = pcWake1
		}
	case pcWake3:
		futexWake(s, on)
		m.done(s, i)
	}
}

// done ends the waker's step: the next message, or (mutant wakeBeforePub)
// the publication.
func (m *model) done(s *mstate, i int) {
	if s.th[i].pre {
		s.th[i].pc = pcPublish
		return
	}
	m.next(s, i)
}

// futexWake wakes every thread asleep on the word (1 notEmpty, 2 notFull):
// they retry their operation.
func futexWake(s *mstate, on uint8) {
	for j := range s.th {
		if s.th[j].pc == pcAsleep && s.th[j].on == on {
			s.th[j].pc, s.th[j].on = pcTry, 0
		}
	}
}

// sleepStep runs steps 1 and 3 of the sleeper's side on word (the
// re-check, step 2, is the caller's; mutant noRecheck goes from step 1
// straight to 3). on names the word for futexWake.
func (m *model) sleepStep(s *mstate, i int, word *int8, on uint8) {
	th := &s.th[i]
	switch th.pc {
	case pcObserve:
		th.obs = s.tail
		th.pc = pcWait1
	case pcWait1:
		th.v = *word
		if th.v&1 != 0 {
			th.pc = pcWait3
		} else {
			th.pc = pcWait2
		}
	case pcWait2:
		if *word == th.v {
			*word = th.v | 1
			th.v |= 1
			th.pc = pcWait3
		} else {
			th.pc = pcTry
		}
	case pcWait5:
		if *word != th.v {
			th.pc = pcTry // EAGAIN
		} else {
			th.pc, th.on = pcAsleep, on
		}
	}
	if th.pc == pcWait3 && m.mut == noRecheck {
		th.pc = pcWait5
	}
}

// fullOrEmpty moves a thread whose attempt failed to retry (spin) or to
// the sleep protocol.
func (m *model) fullOrEmpty(s mstate, i int) []mstate {
	spin := s
	spin.th[i].pc = pcTry
	s.th[i].pc = pcWait1
	if m.mut == staleRecheck {
		s.th[i].pc = pcObserve
	}
	if m.noSpin {
		return []mstate{s}
	}
	return []mstate{s, spin}
}

func (m *model) stepSPSC(s mstate, i int) ([]mstate, error) {
	th := &s.th[i]
	prod := th.role == roleProd
	switch th.pc {
	case pcTry: // load tail
		th.t, th.closed = s.tail, s.closed
		switch {
		case prod && th.closed:
			th.pc = pcDone // ErrClosed
		case prod:
			th.pc = pcTry2
		case th.t != s.head: // the consumer's own head
			th.h = s.head
			th.pc = pcPublish
		case th.closed:
			th.pc = pcDone // drained and closed
		default:
			th.obs = th.t
			return m.fullOrEmpty(s, i), nil
		}
	case pcTry2: // producer: load head
		th.h = s.head
		if th.t-th.h == m.slots {
			th.obs = th.h
			return m.fullOrEmpty(s, i), nil
		}
		th.pc = pcPublish
		if m.mut == wakeBeforePub {
			th.pc, th.pre = pcWake1, true
		}
	case pcPublish:
		if prod {
			if s.tail != th.t || s.closed { // CAS fails only on Close
				th.pc = pcDone
				return []mstate{s}, nil
			}
			s.tail++
		} else {
			s.head = th.h + 1
		}
		th.n++
		th.pc = pcWake1
		if th.pre {
			th.pre = false
			m.next(&s, i)
		}
	case pcWait3: // re-check: load tail
		th.t, th.closed = s.tail, s.closed
		switch {
		case th.closed:
			th.pc = pcTry
		case !prod && m.mut == staleRecheck:
			if th.t != th.obs {
				th.pc = pcTry
			} else {
				th.pc = pcWait5
			}
		case !prod:
			if th.t != s.head {
				th.pc = pcTry
			} else {
				th.pc = pcWait5
			}
		default:
			th.pc = pcWait4
		}
	case pcWait4: // producer re-check: load head
		if th.t-s.head < m.slots {
			th.pc = pcTry
		} else {
			th.pc = pcWait5
		}
	default:
		return nil, fmt.Errorf("SPSC thread %d at pc %d", i, th.pc)
	}
	return []mstate{s}, nil
}

func (m *model) stepMPMC(s mstate, i int) ([]mstate, error) {
	th := &s.th[i]
	prod := th.role == roleProd
	seq := func(p int8) *int8 { return &s.seq[int(p)%int(m.slots)] }
	switch th.pc {
	case pcTry:
		if prod { // load tail
			th.t, th.closed = s.tail, s.closed
			if th.closed {
				th.pc = pcDone
			} else {
				th.pc = pcTry2
			}
		} else { // load head
			th.h = s.head
			th.pc = pcTry2
		}
	case pcTry2:
		if prod { // load seq of slot tail
			q := *seq(th.t)
			switch {
			case q == th.t:
				th.pc = pcClaim
			case q == th.t-m.slots || q == th.t-m.slots+1:
				return m.fullOrEmpty(s, i), nil
			case q > th.t:
				th.pc = pcTry
			default:
				return nil, fmt.Errorf("producer %d: seq %d at tail %d: corrupt", i, q, th.t)
			}
		} else { // load seq of slot head
			q := *seq(th.h)
			switch {
			case q == th.h+1:
				th.pc = pcClaim
			case q == th.h || q == th.h-m.slots+1:
				th.v = q
				th.pc = pcTry3
			case q > th.h+1:
				th.pc = pcTry
			default:
				return nil, fmt.Errorf("consumer %d: seq %d at head %d: corrupt", i, q, th.h)
			}
		}
	case pcTry3: // consumer: load tail
		th.t, th.closed = s.tail, s.closed
		switch {
		case th.t == th.h && th.closed:
			th.pc = pcDone
		case th.t == th.h || (th.t > th.h && th.v == th.h):
			th.obs = th.t
			return m.fullOrEmpty(s, i), nil
		default:
			th.pc = pcTry // the slot moved on: look again
		}
	case pcClaim:
		if prod {
			if s.tail != th.t || s.closed {
				th.pc = pcTry
			} else {
				s.tail++
				th.pc = pcPublish
			}
		} else {
			if s.head != th.h {
				th.pc = pcTry
			} else {
				s.head++
				th.pc = pcPublish
			}
		}
	case pcPublish:
		if prod {
			if *seq(th.t) != th.t {
				return nil, fmt.Errorf("producer %d: slot of %d reclaimed", i, th.t)
			}
			*seq(th.t) = th.t + 1
		} else {
			if *seq(th.h) != th.h+1 {
				return nil, fmt.Errorf("consumer %d: slot of %d reclaimed", i, th.h)
			}
			*seq(th.h) = th.h + m.slots
		}
		th.n++
		th.pc = pcWake1
	case pcWait3:
		if !prod && m.mut == staleRecheck { // the old code: compare with obs
			if s.tail != th.obs {
				th.pc = pcTry
			} else {
				th.pc = pcWait5
			}
			break
		}
		if prod { // load tail
			th.t, th.closed = s.tail, s.closed
			if th.closed {
				th.pc = pcTry
			} else {
				th.pc = pcWait4
			}
		} else { // load head
			th.h = s.head
			th.pc = pcWait4
		}
	case pcWait4:
		if prod { // load seq of slot tail
			q := *seq(th.t)
			if m.mut == narrowRecheck && q != th.t ||
				m.mut != narrowRecheck && (q == th.t-m.slots || q == th.t-m.slots+1) {
				th.pc = pcWait5
			} else {
				th.pc = pcTry
			}
		} else { // load seq of slot head
			q := *seq(th.h)
			if m.mut == narrowRecheck && q != th.h+1 ||
				m.mut != narrowRecheck && (q == th.h || q == th.h-m.slots+1) {
				th.pc = pcWait6
			} else {
				th.pc = pcTry
			}
		}
	case pcWait6: // consumer: load tail
		if s.closed && s.tail == th.h {
			th.pc = pcTry
		} else {
			th.pc = pcWait5
		}
	default:
		return nil, fmt.Errorf("MPMC thread %d at pc %d", i, th.pc)
	}
	return []mstate{s}, nil
}

func (m *model) stepCloser(s mstate, i int) ([]mstate, error) {
	th := &s.th[i]
	switch th.pc {
	case pcTry:
		if th.afterAll {
			for j := range m.nthreads {
				if s.th[j].role == roleProd && s.th[j].pc != pcDone {
					return nil, nil // not enabled yet
				}
			}
		}
		th.pc = pcClose1
	case pcClose1:
		s.closed = true
		th.pc = pcClose2
	case pcClose2, pcClose3: // bump notEmpty
		if bumpStep(&th.pc, &th.v, &s.ne, pcClose2, pcClose3) {
			futexWake(&s, 1)
			th.pc = pcClose4
		}
	case pcClose4, pcClose5: // bump notFull
		if bumpStep(&th.pc, &th.v, &s.nf, pcClose4, pcClose5) {
			futexWake(&s, 2)
			th.pc = pcDone
		}
	}
	return []mstate{s}, nil
}

// check runs every interleaving from init (see explore) and returns the
// number of states and the first violation, with the trace that leads to
// it. In a final state every thread must be done and consumersExpect must
// hold.
func (m *model) check(init mstate, consumersExpect func(s mstate) error) (int, error) {
	pc := func(s mstate, i int) (uint8, bool) { return s.th[i].pc, s.th[i].pc == pcDone }
	return explore(init, m.nthreads, m.step, pc, consumersExpect)
}

// scenario builds a model with producers, consumers and maybe a closer.
// Without a closer the consumers stop after receiving every message;
// with one, they stop at ErrClosed.
func scenario(mpmc bool, slots, msgs int8, producers, consumers int, closer, closeAfterAll bool, mut mutant) (*model, mstate, func(mstate) error) {
	m := &model{mpmc: mpmc, slots: slots, msgs: msgs, mut: mut}
	var s mstate
	for i := range slots {
		s.seq[i] = i
	}
	add := func(role uint8) {
		s.th[m.nthreads] = mthread{pc: pcTry, role: role}
		m.nthreads++
	}
	for range producers {
		add(roleProd)
	}
	for range consumers {
		add(roleCons)
	}
	if closer {
		add(roleCloser)
		s.th[m.nthreads-1].afterAll = closeAfterAll
	}
	total := int8(producers) * msgs
	if !closer {
		// Consumers stop once everything has arrived: model that as a
		// closer that runs after the producers and is not checked for
		// losses beyond the count.
		add(roleCloser)
		s.th[m.nthreads-1].afterAll = true
	}
	expect := func(s mstate) error {
		var sent, got int8
		for i := range m.nthreads {
			switch s.th[i].role {
			case roleProd:
				sent += s.th[i].n
			case roleCons:
				got += s.th[i].n
			}
		}
		if got != sent || (!closer || closeAfterAll) && sent != total {
			return fmt.Errorf("sent %d, received %d, want %d", sent, got, total)
		}
		return nil
	}
	return m, s, expect
}

// TestModelSleepWake checks the cases above; the heavy ones (2x2, and more
// messages) take minutes and gigabytes and run with SHMKIT_RING_MODEL=full.
// The model is single-goroutine code: under -race it is skipped, since the
// detector would only slow it down.
func TestModelSleepWake(t *testing.T) {
	skipUnderRace(t)
	type tc struct {
		name             string
		mpmc             bool
		slots, msgs      int8
		prods, conss     int
		closer, afterAll bool
		noSpin           bool // leave out the spinning choice (smaller space)
		heavy            bool // run only with SHMKIT_RING_MODEL=full
	}
	cases := []tc{
		{name: "SPSC/1slot", slots: 1, msgs: 3, prods: 1, conss: 1},
		{name: "SPSC/2slots", slots: 2, msgs: 4, prods: 1, conss: 1},
		{name: "SPSC/close-anytime", slots: 1, msgs: 3, prods: 1, conss: 1, closer: true},
		{name: "SPSC/close-after", slots: 2, msgs: 3, prods: 1, conss: 1, closer: true, afterAll: true},
		{name: "MPMC/1x1", mpmc: true, slots: 2, msgs: 3, prods: 1, conss: 1},
		{name: "MPMC/1x2-close", mpmc: true, slots: 2, msgs: 1, prods: 1, conss: 2, closer: true},
		{name: "MPMC/2x1", mpmc: true, slots: 2, msgs: 1, prods: 2, conss: 1},
		{name: "MPMC/1x2-close/2msgs", mpmc: true, slots: 2, msgs: 2, prods: 1, conss: 2, closer: true, noSpin: true, heavy: true},
		{name: "MPMC/2x1/2msgs", mpmc: true, slots: 2, msgs: 2, prods: 2, conss: 1, noSpin: true, heavy: true},
		{name: "MPMC/2x2-close-after", mpmc: true, slots: 2, msgs: 1, prods: 2, conss: 2, closer: true, afterAll: true, noSpin: true, heavy: true},
	}
	build := func(c tc, mut mutant) (*model, mstate, func(mstate) error) {
		m, s, expect := scenario(c.mpmc, c.slots, c.msgs, c.prods, c.conss, c.closer, c.afterAll, mut)
		m.noSpin = c.noSpin
		return m, s, expect
	}
	check := func(c tc, mut mutant) (int, error) {
		m, s, expect := build(c, mut)
		return m.check(s, expect)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.heavy && os.Getenv("SHMKIT_RING_MODEL") != "full" {
				t.Skip("millions of states, minutes, gigabytes: set SHMKIT_RING_MODEL=full")
			}
			noLostWakeup(t, func() (int, error) { return check(c, correct) })
		})
	}
	// Each broken variant of the protocol must be caught in some light case.
	mutantsCaught(t, []mutant{staleRecheck, noRecheck, noWake, wakeBeforePub, narrowRecheck}, cases,
		func(c tc) string { return c.name },
		func(c tc, mut mutant) bool {
			return !(c.heavy || (mut == wakeBeforePub && c.mpmc) || (mut == narrowRecheck && !c.mpmc))
		},
		func(c tc, mut mutant) error { _, err := check(c, mut); return err })
}
