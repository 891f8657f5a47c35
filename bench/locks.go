package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
)

// lockBlock is what the locks cases share with their peer, at the start
// of an anonymous segment. The lock and its counter share a cache line;
// each Event has one of its own.
type lockBlock struct {
	mu      locks.Mutex // guards counter
	counter int64
	_       [40]byte
	ping    locks.Event // parent → peer
	_       [60]byte
	pong    locks.Event // peer → parent
	_       [60]byte
	ready   atomic.Uint32 // set by the peer once it runs
	stop    atomic.Uint32 // set by the parent: the peer returns
}

// newBlock makes an anonymous segment holding a zero T.
func newBlock[T any]() (*shm.Segment, *T, error) {
	seg, err := shm.Anonymous(4096)
	if err != nil {
		return nil, nil, err
	}
	s, err := ctypes.View[T](seg.Bytes())
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return seg, s, nil
}

// viewPeer is how a peer task gets its block.
func viewPeer[T any](seg *shm.Segment) (*T, error) {
	if seg == nil {
		return nil, errors.New("no segment")
	}
	return ctypes.View[T](seg.Bytes())
}

var (
	// mutexPeer increments the counter under the lock until told to
	// stop, and returns its increments.
	mutexPeer = fork.Register("shmkit/bench.mutex", func(ctx context.Context, seg *shm.Segment) (int64, error) {
		defer seg.Close()
		s, err := viewPeer[lockBlock](seg)
		if err != nil {
			return 0, err
		}
		s.ready.Store(1)
		var n int64
		for s.stop.Load() == 0 {
			s.mu.Lock()
			s.counter++
			s.mu.Unlock()
			n++
		}
		return n, nil
	})
	// eventPeer answers each ping with a pong until told to stop, and
	// returns the round trips it answered.
	eventPeer = fork.Register("shmkit/bench.event", func(ctx context.Context, seg *shm.Segment) (int64, error) {
		defer seg.Close()
		s, err := viewPeer[lockBlock](seg)
		if err != nil {
			return 0, err
		}
		s.ready.Store(1)
		for n := int64(0); ; n++ {
			if err := s.ping.Wait(ctx); err != nil {
				return n, err
			}
			s.ping.Clear()
			if s.stop.Load() != 0 {
				return n, nil
			}
			s.pong.Set()
		}
	})
)

var mutexUncontended = Case{
	Name: "locks/Mutex uncontended",
	About: "Lock, increment, Unlock of a locks.Mutex in a shared segment, one goroutine; " +
		"vs sync.Mutex and glibc's process-shared pthread mutex (robust, like ours, and plain) in the same loop",
	Unit:          "ns/op",
	LowerIsBetter: true,
	target:        &Target{Value: 100, Claim: `"a lock costs nanoseconds" (DESIGN.md)`},
	run: func(ctx context.Context, o *Options, r *Result) error {
		seg, s, err := newBlock[lockBlock]()
		if err != nil {
			return err
		}
		defer seg.Close()
		incr := func() error {
			s.mu.Lock()
			s.counter++
			s.mu.Unlock()
			return nil
		}
		perOp := func(op func() error) func(loopFunc) (float64, error) {
			return func(loop loopFunc) (float64, error) {
				n, d, err := loop(op)
				return nsPer(n, d), err
			}
		}
		if r.Value, err = o.median(perOp(incr)); err != nil {
			return err
		}
		var base struct {
			mu sync.Mutex
			n  int64
		}
		v, err := o.baselineMedian(perOp(func() error {
			base.mu.Lock()
			base.n++
			base.mu.Unlock()
			return nil
		}))
		r.add("sync.Mutex", v, err)
		v, err = o.cFigure(ctx, "ns_per_op", 1, "mutex-uncontended", "1")
		r.add("C pthread robust", v, err)
		v, err = o.cFigure(ctx, "ns_per_op", 1, "mutex-uncontended", "0")
		r.add("C pthread", v, err)
		return nil
	},
}

var mutexContended = Case{
	Name: "locks/Mutex contended",
	About: "two processes increment one counter under one locks.Mutex as fast as they can; " +
		"increments of both per second; vs glibc's process-shared pthread mutex (robust and plain), same scheme",
	Unit: "M-incr/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		seg, s, err := newBlock[lockBlock]()
		if err != nil {
			return err
		}
		defer seg.Close()
		pe, err := startPeer(ctx, mutexPeer, seg)
		if err != nil {
			return err
		}
		defer pe.close()
		if err := waitReady(ctx, pe.p, func() bool { return s.ready.Load() == 1 }); err != nil {
			return err
		}
		locked := func() int64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.counter
		}
		var mine, total int64
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			c0 := locked()
			n, d, err := loop(func() error {
				s.mu.Lock()
				s.counter++
				s.mu.Unlock()
				return nil
			})
			c1 := locked()
			mine, total = mine+int64(n), total+c1-c0
			return perSecond(c1-c0, d), err
		})
		s.stop.Store(1)
		if err != nil {
			return pe.fail(err)
		}
		theirs, err := finish(ctx, mutexPeer, pe.p)
		if err != nil {
			return err
		}
		if got := locked(); got != mine+theirs {
			return fmt.Errorf("lost increments: counter %d, want %d (ours) + %d (the peer's)", got, mine, theirs)
		}
		if total > 0 {
			r.metric("peer-share", "%", 100*float64(total-mine)/float64(total))
		}
		v, err := o.cFigure(ctx, "incr_per_s", 1e-6, "mutex-contended", "1")
		r.add("C pthread robust", v, err)
		v, err = o.cFigure(ctx, "incr_per_s", 1e-6, "mutex-contended", "0")
		r.add("C pthread", v, err)
		return nil
	},
}

var eventPingPong = Case{
	Name: "locks/Event ping-pong",
	About: "round trip between two processes through two locks.Events (Set, Wait, Clear), median; " +
		"vs one byte through two pipes with a peer blocking in read(2), and Python's multiprocessing.Event",
	Unit:          "p50-ns",
	LowerIsBetter: true,
	run: func(ctx context.Context, o *Options, r *Result) error {
		seg, s, err := newBlock[lockBlock]()
		if err != nil {
			return err
		}
		defer seg.Close()
		pe, err := startPeer(ctx, eventPeer, seg)
		if err != nil {
			return err
		}
		defer pe.close()
		if err := waitReady(ctx, pe.p, func() bool { return s.ready.Load() == 1 }); err != nil {
			return err
		}
		sm, err := timedSamples(o.loop(), 100, func() error {
			s.ping.Set()
			if err := s.pong.Wait(pe.ctx); err != nil {
				return err
			}
			s.pong.Clear()
			return nil
		})
		s.stop.Store(1)
		s.ping.Set()
		if err != nil {
			return pe.fail(err)
		}
		if _, err := finish(ctx, eventPeer, pe.p); err != nil {
			return err
		}
		r.Value = sm.percentile(50)
		r.metric("p99", "ns", sm.percentile(99))
		p50, p99, err := pipePingPong(o)
		r.add("pipe", p50, err)
		if err == nil {
			r.note("pipe p99 %s", FormatFigure(p99, "ns"))
		}
		v, err := o.pyFigure(ctx, "p50_ns", 1, "event")
		r.add("Python mp.Event", v, err)
		return nil
	},
}

// pipePingPong measures one-byte round trips through two pipes with a
// peer echoing them, both sides blocking in read(2), for the budget. It
// returns the median and 99th percentile in nanoseconds.
func pipePingPong(o *Options) (p50, p99 float64, err error) {
	toPeer, toPeerW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer toPeer.Close()
	defer toPeerW.Close()
	fromPeer, fromPeerW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer fromPeer.Close()
	defer fromPeerW.Close()
	p, err := startExec(roleEcho, toPeer, fromPeerW)
	if err != nil {
		return 0, 0, err
	}
	// The peer has its copies; without ours, it sees EOF when we close
	// toPeerW, and we see EOF should it die.
	toPeer.Close()
	fromPeerW.Close()
	wfd, rfd := blockingFd(toPeerW), blockingFd(fromPeer)
	var buf [1]byte
	sm, err := timedSamples(budgetLoop(o.budget()), 100, func() error {
		if err := writeAll(wfd, buf[:]); err != nil {
			return err
		}
		n, err := read(rfd, buf[:])
		if err == nil && n != 1 {
			err = errors.New("pipe peer ended")
		}
		return err
	})
	toPeerW.Close()
	if _, werr := p.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return 0, 0, err
	}
	return sm.percentile(50), sm.percentile(99), nil
}
