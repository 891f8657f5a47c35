package ring

import (
	"errors"
	"testing"
)

// The SPSC Close protocol (spsc.go, "Close"), checked on every
// interleaving: a Send racing with Close and with a receiver that finds
// the ring closed must either publish a message the receiver gets or
// return ErrClosed, never both and never neither. The model has one Send
// (space's and publish's loads of closed, then the mark's
// compare-and-swap), one Close (the store of closed; its wake-ups are the
// sleep protocol's business, checked in model_test.go) and one receiver
// that retries until it gets the message or ErrClosed (avail: the mark at
// head, closed, then the poisoning compare-and-swap and a last load).

const (
	markFreeM = iota
	markReadyM
	markPoisonM
)

const (
	outNone = iota
	outOK   // Send: published; receiver: got the message
	outClosed
)

type closeModel struct {
	mark          int8
	closed        bool
	pPC, rPC      uint8
	rSeen         int8 // the mark the receiver loaded before poisoning
	pOut, rOut    int8
	closerDone    bool
	noPoison      bool // mutant: the receiver trusts closed and returns ErrClosed
	plainPublish  bool // mutant: the sender stores the mark instead of a CAS
	noClosedCheck bool // mutant: the sender never looks at closed
}

func (m closeModel) step(i int) ([]closeModel, error) {
	switch i {
	case 0: // Send
		if m.pOut != outNone {
			return nil, nil
		}
		switch m.pPC {
		case 0, 1: // space's load of closed, then publish's
			if m.closed && !m.noClosedCheck {
				m.pOut = outClosed
			} else {
				m.pPC++
			}
		case 2: // the mark's compare-and-swap from free to ready
			switch {
			case m.plainPublish:
				m.mark, m.pOut = markReadyM, outOK
			case m.mark == markFreeM:
				m.mark, m.pOut = markReadyM, outOK
			case m.mark == markPoisonM:
				m.pOut = outClosed
			default:
				return nil, errors.New("sender found the mark ready before publishing")
			}
		}
	case 1: // Close
		if m.closerDone {
			return nil, nil
		}
		m.closed, m.closerDone = true, true
	case 2: // the receiver, retrying on ErrEmpty
		if m.rOut != outNone {
			return nil, nil
		}
		switch m.rPC {
		case 0: // the mark at head
			if m.mark == markReadyM {
				m.rOut = outOK
			} else {
				m.rPC = 1
			}
		case 1: // closed? (ErrEmpty: start over)
			switch {
			case !m.closed:
				m.rPC = 0
			case m.noPoison:
				m.rOut = outClosed
			default:
				m.rPC = 2
			}
		case 2: // load the mark to poison
			m.rSeen, m.rPC = m.mark, 3
		case 3: // compare-and-swap it to poisoned, unless ready or poisoned
			if m.rSeen != markReadyM && m.rSeen != markPoisonM && m.mark == m.rSeen {
				m.mark = markPoisonM
			}
			m.rPC = 4
		case 4: // the last load decides
			switch m.mark {
			case markPoisonM:
				m.rOut = outClosed
			case markReadyM:
				m.rOut = outOK
			default:
				return nil, errors.New("receiver found the mark neither ready nor poisoned after poisoning")
			}
		}
	}
	return []closeModel{m}, nil
}

func (m closeModel) done(i int) (uint8, bool) {
	switch i {
	case 0:
		return m.pPC, m.pOut != outNone
	case 1:
		return 0, m.closerDone
	}
	return m.rPC, m.rOut != outNone
}

// final: the Send published exactly when the receiver got the message.
func (m closeModel) final() error {
	if (m.pOut == outOK) != (m.rOut == outOK) {
		return errors.New("a Send's outcome and the receiver's disagree: a message lost or received from a failed Send")
	}
	return nil
}

func exploreClose(m closeModel) (int, error) {
	return explore(m, 3, closeModel.step, closeModel.done, closeModel.final)
}

func TestModelClose(t *testing.T) {
	n, err := exploreClose(closeModel{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d states: every Send racing with Close is received or fails with ErrClosed", n)
	for name, m := range map[string]closeModel{
		"receiver without poisoning": {noPoison: true},
		"sender publishing by store": {plainPublish: true},
	} {
		if _, err := exploreClose(m); err == nil {
			t.Errorf("mutant %q: the model finds no lost or phantom message", name)
		}
	}
	// The sender's loads of closed only make a Send that starts after
	// Close fail early; the poisoning alone keeps the outcomes in step.
	if _, err := exploreClose(closeModel{noClosedCheck: true}); err != nil {
		t.Errorf("without the sender's closed checks: %v", err)
	}
}
