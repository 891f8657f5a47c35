package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
)

// valueArgs is what the Value case hands its peer: the shared Value and
// the control block (a peerCtl at the start of Ctl).
type valueArgs struct {
	V   *rawarray.Value[int64]
	Ctl *shm.Segment
}

// peerCtl is the control block of cases whose shared object lives in a
// segment of its own.
type peerCtl struct {
	ready atomic.Uint32 // set by the peer once it runs
	stop  atomic.Uint32 // set by the parent: the peer returns
}

// valuePeer increments the Value under its lock until told to stop, and
// returns its increments.
var valuePeer = fork.Register("shmkit/bench.value", func(ctx context.Context, a valueArgs) (int64, error) {
	if a.V == nil || a.Ctl == nil {
		return 0, errors.New("missing Value or control segment")
	}
	defer a.V.Close()
	defer a.Ctl.Close()
	c, err := viewPeer[peerCtl](a.Ctl)
	if err != nil {
		return 0, err
	}
	c.ready.Store(1)
	var n int64
	for c.stop.Load() == 0 {
		a.V.Lock()
		a.V.Store(a.V.Load() + 1)
		a.V.Unlock()
		n++
	}
	return n, nil
})

var valueIncrement = Case{
	Name: "rawarray/Value increment",
	About: "two processes increment one rawarray.Value[int64] under its lock (Lock, Load, Store, Unlock); " +
		"increments of both per second; vs Python's multiprocessing.Value('q') under get_lock(), same scheme",
	Unit: "M-incr/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		v, err := rawarray.NewValue[int64](0)
		if err != nil {
			return err
		}
		defer v.Close()
		ctlSeg, c, err := newBlock[peerCtl]()
		if err != nil {
			return err
		}
		defer ctlSeg.Close()
		pe, err := startPeer(ctx, valuePeer, valueArgs{V: v, Ctl: ctlSeg})
		if err != nil {
			return err
		}
		defer pe.close()
		if err := waitReady(ctx, pe.p, func() bool { return c.ready.Load() == 1 }); err != nil {
			return err
		}
		locked := func() int64 {
			v.Lock()
			defer v.Unlock()
			return v.Load()
		}
		var mine, total int64
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			c0 := locked()
			n, d, err := loop(func() error {
				v.Lock()
				v.Store(v.Load() + 1)
				v.Unlock()
				return nil
			})
			c1 := locked()
			mine, total = mine+int64(n), total+c1-c0
			return perSecond(c1-c0, d), err
		})
		c.stop.Store(1)
		if err != nil {
			return pe.fail(err)
		}
		theirs, err := finish(ctx, valuePeer, pe.p)
		if err != nil {
			return err
		}
		if got := locked(); got != mine+theirs {
			return fmt.Errorf("lost increments: value %d, want %d (ours) + %d (the peer's)", got, mine, theirs)
		}
		if total > 0 {
			r.metric("peer-share", "%", 100*float64(total-mine)/float64(total))
		}
		b, err := o.pyFigure(ctx, "incr_per_s", 1e-6, "value")
		r.add("Python mp.Value", b, err)
		b, err = o.cFigure(ctx, "incr_per_s", 1e-6, "mutex-contended", "1")
		r.add("C pthread robust", b, err)
		return nil
	},
}
