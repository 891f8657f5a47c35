package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/fork"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// ringOffset is where a ring starts in a segment that begins with a
// peerCtl: a cache line of its own for the control words.
const ringOffset = 128

// startRingPeer makes an anonymous segment holding a peerCtl and, at
// ringOffset, the ring that newRing makes there with slots slots of
// slotSize bytes (ringSize(slots, slotSize) bytes of it); then it starts
// task on the segment, to attach to the ring. The caller defers done,
// which ends the peer and then closes the segment.
func startRingPeer[Q, R any](ctx context.Context, task *fork.Task[*shm.Segment, R],
	ringSize func(slots, slotSize int) int, newRing func(mem []byte, slots, slotSize int) (Q, error),
	slots, slotSize int) (q Q, c *peerCtl, pe *peer, done func(), err error) {
	seg, err := shm.Anonymous(int64(ringOffset + ringSize(slots, slotSize)))
	if err != nil {
		return q, nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			seg.Close()
		}
	}()
	if c, err = viewPeer[peerCtl](seg); err != nil {
		return q, nil, nil, nil, err
	}
	if q, err = newRing(seg.Bytes()[ringOffset:], slots, slotSize); err != nil {
		return q, nil, nil, nil, err
	}
	if pe, err = startPeer(ctx, task, seg); err != nil {
		return q, nil, nil, nil, err
	}
	return q, c, pe, func() { pe.close(); seg.Close() }, nil
}

// attachRing is the peer's side of startRingPeer: it attaches to the ring
// at ringOffset in seg and then sets the peerCtl's ready word.
func attachRing[Q any](seg *shm.Segment, attach func(mem []byte) (Q, error)) (Q, error) {
	c, err := viewPeer[peerCtl](seg)
	if err != nil {
		var zero Q
		return zero, err
	}
	q, err := attach(seg.Bytes()[ringOffset:])
	if err != nil {
		return q, err
	}
	c.ready.Store(1)
	return q, nil
}

// fillSeq writes i into every 8-byte word of m, plus the word's index,
// so that every payload byte carries the message's number.
func fillSeq(m []byte, i uint64) {
	for k := 0; k+8 <= len(m); k += 8 {
		binary.NativeEndian.PutUint64(m[k:], i+uint64(k/8))
	}
}

// checkSeq reports whether m is what fillSeq(m, i) wrote, reading every
// byte.
func checkSeq(m []byte, i uint64) bool {
	if len(m) < 8 {
		return false
	}
	for k := 0; k+8 <= len(m); k += 8 {
		if binary.NativeEndian.Uint64(m[k:]) != i+uint64(k/8) {
			return false
		}
	}
	return true
}

var (
	// spscPeer receives 8-byte messages until the ring is closed,
	// checking that message i holds i, and returns how many it got.
	spscPeer = fork.Register("shmkit/bench.spsc", func(ctx context.Context, seg *shm.Segment) (int64, error) {
		defer seg.Close()
		r, err := attachRing(seg, ring.AttachSPSC)
		if err != nil {
			return 0, err
		}
		buf := make([]byte, 8)
		for i := uint64(0); ; i++ {
			n, err := r.Recv(ctx, buf)
			if errors.Is(err, ring.ErrClosed) {
				return int64(i), nil
			}
			if err != nil {
				return int64(i), err
			}
			if !checkSeq(buf[:n], i) {
				return int64(i), fmt.Errorf("message %d: % x", i, buf[:n])
			}
		}
	})
	// connEcho sends back every message it receives until the pipe is
	// closed, and returns how many it echoed.
	connEcho = fork.Register("shmkit/bench.conn-echo", func(ctx context.Context, c *ring.Conn) (int64, error) {
		defer c.Close()
		buf := make([]byte, 64)
		for n := int64(0); ; n++ {
			k, err := c.RecvInto(ctx, buf)
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if err := c.Send(ctx, buf[:k]); err != nil {
				return n, err
			}
		}
	})
	// connDrain receives 64 KiB messages until the pipe is closed,
	// reading every byte and checking each message's number.
	connDrain = fork.Register("shmkit/bench.conn-drain", func(ctx context.Context, c *ring.Conn) (drained, error) {
		defer c.Close()
		buf := make([]byte, bandwidthMsg)
		var d drained
		for {
			n, err := c.RecvInto(ctx, buf)
			if errors.Is(err, io.EOF) {
				return d, nil
			}
			if err != nil {
				return d, err
			}
			if n != bandwidthMsg || binary.NativeEndian.Uint64(buf) != uint64(d.N) {
				return d, fmt.Errorf("message %d: %d bytes starting % x", d.N, n, buf[:8])
			}
			d.Xor ^= xorWords(buf[:n])
			d.N++
		}
	})
	// queueGet takes ints from the queue until it is closed, checking
	// they come in order, and returns how many it took.
	queueGet = fork.Register("shmkit/bench.queue-get", func(ctx context.Context, q *ring.Queue[int]) (int64, error) {
		defer q.Detach()
		for i := 0; ; i++ {
			v, err := q.Get(ctx)
			if errors.Is(err, ring.ErrClosed) {
				return int64(i), nil
			}
			if err != nil {
				return int64(i), err
			}
			if v != i {
				return int64(i), fmt.Errorf("item %d is %d", i, v)
			}
		}
	})
	// mpmcPeer runs two consumers on the MPMC ring until it is closed;
	// each checks that every producer's messages reach it in order. It
	// returns the messages both took.
	mpmcPeer = fork.Register("shmkit/bench.mpmc", func(ctx context.Context, seg *shm.Segment) (int64, error) {
		defer seg.Close()
		r, err := attachRing(seg, ring.AttachMPMC)
		if err != nil {
			return 0, err
		}
		return consume2(func(buf []byte) (int, error) { return r.Recv(ctx, buf) }, ring.ErrClosed)
	})
)

// consume2 runs two consumers of 8-byte messages (producer id in the top
// byte, sequence number below) until recv returns closed, and returns
// how many messages both took. Each consumer checks that every
// producer's messages reach it in increasing order, as FIFO requires; one
// that finds otherwise records it and goes on draining, so that the
// producers never wait for it.
func consume2(recv func(buf []byte) (int, error), closed error) (int64, error) {
	var total atomic.Int64
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Go(func() {
			var last [2]uint64
			buf := make([]byte, 8)
			var n int64
			defer func() { total.Add(n) }()
			for {
				m, err := recv(buf)
				if errors.Is(err, closed) {
					return
				}
				if err == nil && m != 8 {
					err = fmt.Errorf("%d-byte message", m)
				}
				if err != nil {
					errs[k] = err
					return
				}
				n++
				v := binary.NativeEndian.Uint64(buf)
				p, seq := v>>56, v&(1<<56-1)+1
				switch {
				case errs[k] != nil:
				case p > 1:
					errs[k] = fmt.Errorf("message %#x from no producer", v)
				case seq <= last[p]:
					errs[k] = fmt.Errorf("producer %d's message %d after its %d", p, seq-1, last[p]-1)
				default:
					last[p] = seq
				}
			}
		})
	}
	wg.Wait()
	return total.Load(), errors.Join(errs...)
}

var spscThroughput = Case{
	Name: "ring/SPSC 8B",
	About: "8-byte messages from this process to a peer through a 4096-slot ring.SPSC in a shared segment, " +
		"one Send per message, each checked by the peer; vs a C SPSC ring of the same slot format",
	Unit: "M-msgs/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		const slots, size = 4096, 8
		q, c, pe, done, err := startRingPeer(ctx, spscPeer, ring.SPSCSize, ring.NewSPSC, slots, size)
		if err != nil {
			return err
		}
		defer done()
		msg := make([]byte, size)
		var i uint64
		send := func() error {
			fillSeq(msg, i)
			i++
			return q.Send(pe.ctx, msg)
		}
		for range slots { // warm up
			if err := send(); err != nil {
				return pe.fail(err)
			}
		}
		if err := waitReady(ctx, pe.p, func() bool { return c.ready.Load() == 1 && q.Len() == 0 }); err != nil {
			return err
		}
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			n, d, err := loop(send)
			return perSecond(int64(n), d), err
		})
		_ = q.Close()
		if err != nil {
			return pe.fail(err)
		}
		got, err := finish(ctx, spscPeer, pe.p)
		if err != nil {
			return err
		}
		if got != int64(i) {
			return fmt.Errorf("peer received %d of %d messages", got, i)
		}
		v, err := o.cFigure(ctx, "mps", 1e-6, "ring", "8")
		r.add("C SPSC ring", v, err)
		return nil
	},
}

var connPingPong = Case{
	Name: "ring/Conn ping-pong",
	About: "round trip of an 8-byte message over a duplex ring.Pipe with a peer echoing it, median; " +
		"vs C spinning on two cache lines (the hardware's floor) and Python's multiprocessing.Pipe",
	Unit:          "p50-ns",
	LowerIsBetter: true,
	target:        &Target{Value: 2000, Claim: `"a message hand-off costs well under a microsecond" (DESIGN.md): a round trip is two`},
	run: func(ctx context.Context, o *Options, r *Result) error {
		a, b, err := ring.Pipe(true)
		if err != nil {
			return err
		}
		defer a.Close()
		pe, err := startPeer(ctx, connEcho, b)
		b.Detach() // the peer has its end
		if err != nil {
			return err
		}
		defer pe.close()
		msg, buf := make([]byte, 8), make([]byte, 64)
		var i uint64
		sm, err := timedSamples(o.loop(), 1000, func() error {
			fillSeq(msg, i)
			if err := a.Send(pe.ctx, msg); err != nil {
				return err
			}
			n, err := a.RecvInto(pe.ctx, buf)
			if err != nil {
				return err
			}
			if !checkSeq(buf[:n], i) {
				return fmt.Errorf("echo of %d: % x", i, buf[:n])
			}
			i++
			return nil
		})
		a.Close() // the peer reads io.EOF
		if err != nil {
			return pe.fail(err)
		}
		if got, err := finish(ctx, connEcho, pe.p); err != nil || got != int64(i) {
			return fmt.Errorf("peer echoed %d of %d messages: %v", got, i, err)
		}
		r.Value = sm.percentile(50)
		r.metric("p99", "ns", sm.percentile(99))
		cr, err := o.runC(ctx, "spin")
		v, err := figure(cr, err, "p50_ns", 1)
		r.add("C spin", v, err)
		if err == nil {
			r.note("C spin p99 %s", FormatFigure(cr["p99_ns"], "ns"))
		}
		v, err = o.pyFigure(ctx, "p50_ns", 1, "pipe")
		r.add("Python mp.Pipe", v, err)
		return nil
	},
}

// drained is what connDrain read: messages, and the xor of their words.
type drained struct {
	N   int64
	Xor uint64
}

// bandwidthMsg is the message size of the bandwidth case.
const bandwidthMsg = 64 << 10

var connBandwidth = Case{
	Name: "ring/Conn 64KiB",
	About: "64 KiB messages one way over a ring.Pipe with default geometry (Send, RecvInto); " +
		"the peer reads every byte; vs a unix socketpair with a peer reading every byte",
	Unit: "GB/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		recvEnd, sendEnd, err := ring.Pipe(false)
		if err != nil {
			return err
		}
		defer sendEnd.Close()
		pe, err := startPeer(ctx, connDrain, recvEnd)
		recvEnd.Detach()
		if err != nil {
			return err
		}
		defer pe.close()
		src := make([]byte, bandwidthMsg)
		for k := range src {
			src[k] = byte(k * 7)
		}
		var i uint64
		send := func() error {
			binary.NativeEndian.PutUint64(src, i)
			i++
			return sendEnd.Send(pe.ctx, src)
		}
		for range 64 { // warm up: fault the rings' pages in
			if err := send(); err != nil {
				return pe.fail(err)
			}
		}
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			n, d, err := loop(send)
			return perSecond(int64(n)*bandwidthMsg, d) / 1e3, err
		})
		sendEnd.Close()
		if err != nil {
			return pe.fail(err)
		}
		if got, err := finish(ctx, connDrain, pe.p); err != nil || got.N != int64(i) {
			return fmt.Errorf("peer received %d of %d messages: %v", got.N, i, err)
		}
		r.note("default Pipe geometry: 16 slots of 64 KiB + 5 bytes per direction: a 64 KiB message and its header take one slot")
		v, err := socketBandwidth(o)
		r.add("unix socketpair", v, err)
		return nil
	},
}

// socketBandwidth writes 64 KiB messages into a unix socketpair whose
// other end a peer reads (every byte), for the budget, and returns GB/s.
func socketBandwidth(o *Options) (float64, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "socketpair"), os.NewFile(uintptr(fds[1]), "socketpair")
	defer mine.Close()
	p, err := startExec(roleDrain, theirs)
	theirs.Close()
	if err != nil {
		return 0, err
	}
	fd := blockingFd(mine)
	src := make([]byte, bandwidthMsg)
	for k := range src {
		src[k] = byte(k * 7)
	}
	var i uint64
	send := func() error {
		binary.NativeEndian.PutUint64(src, i)
		i++
		return writeAll(fd, src)
	}
	for range 64 { // warm up: more than the socket buffers hold, so the peer reads
		if err := send(); err != nil {
			mine.Close()
			_, _ = p.wait()
			return 0, err
		}
	}
	v, err := o.baselineMedian(func(loop loopFunc) (float64, error) {
		n, d, err := loop(send)
		return perSecond(int64(n)*bandwidthMsg, d) / 1e3, err
	})
	mine.Close()
	kv, werr := p.wait()
	if err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, werr
	}
	if kv["bytes"] != int64(i)*bandwidthMsg {
		return 0, fmt.Errorf("socket peer read %d of %d bytes", kv["bytes"], int64(i)*bandwidthMsg)
	}
	return v, nil
}

var queueThroughput = Case{
	Name: "ring/Queue[int]",
	About: "ints 0, 1, 2, ... put into a ring.Queue[int] (capacity 1024) by this process and taken, in order, by a peer; " +
		"vs one write(2) per int into an os pipe read by a peer, and Python's multiprocessing.Queue",
	Unit: "M-items/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		q, err := ring.NewQueue[int](1024)
		if err != nil {
			return err
		}
		defer q.Detach()
		defer q.Close()
		pe, err := startPeer(ctx, queueGet, q)
		if err != nil {
			return err
		}
		defer pe.close()
		i := 0
		put := func() error {
			err := q.Put(pe.ctx, i)
			i++
			return err
		}
		for range q.Cap() { // warm up
			if err := put(); err != nil {
				return pe.fail(err)
			}
		}
		if err := waitReady(ctx, pe.p, func() bool { return q.Len() == 0 }); err != nil {
			return err
		}
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			n, d, err := loop(put)
			return perSecond(int64(n), d), err
		})
		_ = q.Close()
		if err != nil {
			return pe.fail(err)
		}
		if got, err := finish(ctx, queueGet, pe.p); err != nil || got != int64(i) {
			return fmt.Errorf("peer took %d of %d items: %v", got, i, err)
		}
		v, err := pipeItems(o)
		r.add("os pipe", v, err)
		v, err = o.pyFigure(ctx, "items_per_s", 1e-6, "queue")
		r.add("Python mp.Queue", v, err)
		return nil
	},
}

// pipeItems writes ints 0, 1, 2, ... into a pipe, one write(2) of 8 bytes
// each, that a peer reads and checks, for the budget, and returns
// millions of items per second.
func pipeItems(o *Options) (float64, error) {
	rf, wf, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer rf.Close()
	defer wf.Close()
	p, err := startExec(roleSeq, rf)
	rf.Close()
	if err != nil {
		return 0, err
	}
	fd := blockingFd(wf)
	var buf [8]byte
	var i uint64
	put := func() error {
		binary.NativeEndian.PutUint64(buf[:], i)
		i++
		return writeAll(fd, buf[:])
	}
	for range 16384 { // warm up: more than the pipe holds, so the peer reads
		if err := put(); err != nil {
			wf.Close()
			_, _ = p.wait()
			return 0, err
		}
	}
	v, err := o.baselineMedian(func(loop loopFunc) (float64, error) {
		n, d, err := loop(put)
		return perSecond(int64(n), d), err
	})
	wf.Close()
	kv, werr := p.wait()
	if err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, werr
	}
	if kv["items"] != int64(i) || kv["bad"] != 0 {
		return 0, fmt.Errorf("pipe peer read %d of %d items, %d out of order", kv["items"], i, kv["bad"])
	}
	return v, nil
}

var mpmc2x2 = Case{
	Name: "ring/MPMC 2x2",
	About: "2 producer goroutines here, 2 consumer goroutines in a peer process, 8-byte messages through a " +
		"1024-slot ring.MPMC; vs a buffered Go channel (capacity 1024) with 2 producers and 2 consumers in one process",
	Unit: "M-msgs/s",
	run: func(ctx context.Context, o *Options, r *Result) error {
		const slots, size = 1024, 8
		q, c, pe, done, err := startRingPeer(ctx, mpmcPeer, ring.MPMCSize, ring.NewMPMC, slots, size)
		if err != nil {
			return err
		}
		defer done()
		if err := waitReady(ctx, pe.p, func() bool { return c.ready.Load() == 1 }); err != nil {
			return err
		}
		sent, err := produce2(o.median, func(m []byte) error { return q.Send(pe.ctx, m) })
		_ = q.Close()
		if err != nil {
			return pe.fail(err)
		}
		got, err := finish(ctx, mpmcPeer, pe.p)
		if err != nil {
			return err
		}
		if got != sent.n {
			return fmt.Errorf("peer took %d of %d messages", got, sent.n)
		}
		r.Value = sent.rate
		v, err := chan2x2(o)
		r.add("Go channel", v, err)
		return nil
	},
}

// produced is what produce2 did.
type produced struct {
	n    int64   // messages sent by both producers
	rate float64 // the median rate, M msgs/s
}

// produce2 sends 8-byte messages (producer id in the top byte, sequence
// number below) from two producers: the measured loop and a goroutine
// that sends as fast as it can meanwhile. The rate counts both.
func produce2(median func(func(loopFunc) (float64, error)) (float64, error), send func([]byte) error) (produced, error) {
	var other atomic.Int64
	var stop atomic.Bool
	var otherErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		m := make([]byte, 8)
		for seq := uint64(0); !stop.Load(); seq++ {
			binary.NativeEndian.PutUint64(m, 1<<56|seq)
			if err := send(m); err != nil {
				otherErr = err
				return
			}
			other.Add(1)
		}
	})
	m := make([]byte, 8)
	var seq uint64
	rate, err := median(func(loop loopFunc) (float64, error) {
		o0 := other.Load()
		n, d, err := loop(func() error {
			binary.NativeEndian.PutUint64(m, seq)
			seq++
			return send(m)
		})
		return perSecond(int64(n)+other.Load()-o0, d), err
	})
	stop.Store(true)
	wg.Wait()
	return produced{n: int64(seq) + other.Load(), rate: rate}, errors.Join(err, otherErr)
}

// chan2x2 is the MPMC case's scheme over a buffered Go channel in one
// process.
func chan2x2(o *Options) (float64, error) {
	ch := make(chan [8]byte, 1024)
	var consumed int64
	var cerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		consumed, cerr = consume2(func(buf []byte) (int, error) {
			m, ok := <-ch
			if !ok {
				return 0, io.EOF
			}
			return copy(buf, m[:]), nil
		}, io.EOF)
	}()
	sent, err := produce2(o.baselineMedian, func(m []byte) error {
		ch <- [8]byte(m)
		return nil
	})
	close(ch)
	<-done
	if err = errors.Join(err, cerr); err != nil {
		return 0, err
	}
	if consumed != sent.n {
		return 0, fmt.Errorf("consumers took %d of %d messages", consumed, sent.n)
	}
	return sent.rate, nil
}
