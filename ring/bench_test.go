package ring

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/baseline"
	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// Benchmarks run across two real processes (the test binary re-executed),
// touch every payload byte, and report a baseline measured in the same run
// next to the ring's figure:
//
//	BenchmarkSPSCThroughput   8 B and 64 B messages, Mmsgs/s, vs a C SPSC
//	                          ring with the same slot format (C-Mmsgs/s)
//	BenchmarkPingPong         round trip over two SPSC rings, p50/p99 ns,
//	                          vs C spinning on two cache lines and Python's
//	                          multiprocessing.Pipe
//	BenchmarkBandwidth64KiB   64 KiB messages, GB/s, vs a unix socketpair
//	                          across processes and memcpy in one process
//	BenchmarkMPMC2x2          2 producer and 2 consumer goroutines, Mmsgs/s,
//	                          vs a buffered Go channel
//
// Read them with benchstat over several -count runs: the machine is shared
// and its figures move between runs (see /work/shared/baselines/README.md
// for this VM's bimodal core placement).

// benchRoles are the benchmark children; init adds them to roles.
var benchRoles = map[string]proctest.Role{
	// name size mode [cpu]: receive until ErrClosed with Recv (mode single) or
	// RecvBatch (mode batch), checking message i holds i (and, for 64
	// bytes, its last word i+7).
	"bench-spsc-recv": func() int {
		proctest.PinChild(3)
		a := proctest.Args()
		r := attach(a[0], "spsc").(*SPSC)
		size := proctest.ArgInt(1)
		bufs := make([][]byte, 64)
		for i := range bufs {
			bufs[i] = make([]byte, size)
		}
		if a[2] == "single" {
			bufs = bufs[:1]
		}
		ctx := context.Background()
		var i uint64
		for {
			var n int
			var err error
			if len(bufs) == 1 {
				var l int
				l, err = r.Recv(ctx, bufs[0][:size])
				bufs[0] = bufs[0][:l]
				n = 1
			} else {
				n, err = r.RecvBatch(ctx, bufs)
			}
			if err == ErrClosed {
				return 0
			}
			if err != nil {
				proctest.Fail("recv: %v", err)
			}
			for _, m := range bufs[:n] {
				if !checkSeq(m, i) {
					proctest.Fail("message %d: % x", i, m)
				}
				i++
			}
		}
	},
	// name [cpu]: echo every message of the request ring (at 0) to the reply
	// ring (after it) until ErrClosed.
	"bench-echo": func() int {
		proctest.PinChild(1)
		mem := openSegment(proctest.Args()[0])
		req, err := AttachSPSC(mem)
		if err != nil {
			proctest.Fail("attach: %v", err)
		}
		resp, err := AttachSPSC(mem[pingOffset:])
		if err != nil {
			proctest.Fail("attach: %v", err)
		}
		buf := make([]byte, 64)
		ctx := context.Background()
		for {
			n, err := req.Recv(ctx, buf)
			if err == ErrClosed {
				return 0
			}
			if err != nil {
				proctest.Fail("recv: %v", err)
			}
			if err := resp.Send(ctx, buf[:n]); err != nil {
				proctest.Fail("send: %v", err)
			}
		}
	},
	// name mode: receive 64 KiB messages until ErrClosed, copying each out
	// (mode copy) or reading it in place (mode peek); every byte is read.
	"bench-recv-64k": func() int {
		a := proctest.Args()
		r := attach(a[0], "spsc").(*SPSC)
		buf := make([]byte, 64<<10)
		ctx := context.Background()
		var sum uint64
		for {
			var err error
			if a[1] == "peek" {
				var m []byte
				if m, err = r.Peek(ctx); err == nil {
					sum += xorWords(m)
					r.Release()
				}
			} else {
				var n int
				n, err = r.Recv(ctx, buf)
				sum += uint64(n)
			}
			if err == ErrClosed {
				fmt.Fprintln(os.Stderr, sum)
				return 0
			}
			if err != nil {
				proctest.Fail("recv: %v", err)
			}
		}
	},
	// Read fd 3 until EOF.
	"bench-sock-read": func() int {
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(3, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				proctest.Fail("read: %v", err)
			}
			if n == 0 {
				return 0
			}
		}
	},
}

func init() {
	for k, v := range benchRoles {
		roles[k] = v
	}
}

// fillSeq writes sequence number i into an 8- or 64-byte message.
func fillSeq(m []byte, i uint64) {
	for k := 0; k+8 <= len(m); k += 8 {
		binary.LittleEndian.PutUint64(m[k:], i+uint64(k/8))
	}
}

func checkSeq(m []byte, i uint64) bool {
	return len(m) >= 8 && binary.LittleEndian.Uint64(m) == i &&
		binary.LittleEndian.Uint64(m[len(m)-8:]) == i+uint64(len(m)/8-1)
}

func xorWords(m []byte) uint64 {
	var x uint64
	for len(m) >= 8 {
		x ^= binary.LittleEndian.Uint64(m)
		m = m[8:]
	}
	return x
}

// cResult runs baseline.CSource with args, afresh (each benchmark run
// wants its own baseline), or logs why it cannot.
func cResult(b *testing.B, args ...string) baseline.Result {
	r, err := baseline.RunC(context.Background(), baseline.CSource, args...)
	if err != nil {
		if errors.Is(err, baseline.ErrUnavailable) {
			b.Logf("no C baseline: %v", err)
		} else {
			b.Errorf("C baseline: %v", err)
		}
		return nil
	}
	return r
}

// BenchmarkSPSCThroughput streams 8- and 64-byte messages from this
// process to a child through a 4096-slot SPSC ring: one Send per message,
// or SendBatch of 64 (ns/op is then per batch). It reports Mmsgs/s, and
// next to it the C ring's rate (C-Mmsgs/s) and the ratio (x-C).
func BenchmarkSPSCThroughput(b *testing.B) {
	for _, size := range []int{8, 64} {
		for _, mode := range []string{"single", "batch"} {
			b.Run(fmt.Sprintf("%dB/%s", size, mode), func(b *testing.B) {
				name, _, ring := newRingSegment(b, "spsc", 4096, size, 0)
				r := ring.(*SPSC)
				pl := proctest.NewPlacement(b)
				c := proctest.Start(b, "bench-spsc-recv", pl.PeerArgs(name, strconv.Itoa(size), mode), nil)
				unpin := pl.Pin(b, 0)
				ctx := context.Background()
				msg := make([]byte, size)
				// Warm up: the child is running once it took a message.
				fillSeq(msg, 0)
				if err := r.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
				proctest.WaitFor(b, "child", func() bool { return r.Len() == 0 })
				i := uint64(1)
				batch := 1
				b.ReportAllocs()
				if mode == "single" {
					for b.Loop() {
						fillSeq(msg, i)
						if err := r.Send(ctx, msg); err != nil {
							b.Fatal(err)
						}
						i++
					}
				} else {
					batch = 64
					msgs := make([][]byte, batch)
					for k := range msgs {
						msgs[k] = make([]byte, size)
					}
					for b.Loop() {
						for k, m := range msgs {
							fillSeq(m, i+uint64(k))
						}
						if _, err := r.SendBatch(ctx, msgs); err != nil {
							b.Fatal(err)
						}
						i += uint64(batch)
					}
				}
				_ = r.Close()
				unpin()
				c.MustSucceed(b, childTimeout)
				mps := float64(b.N*batch) / b.Elapsed().Seconds() / 1e6
				b.ReportMetric(mps, "Mmsgs/s")
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*batch), "ns/msg")
				// 20,000,000 messages, no time limit.
				if cr := cResult(b, "ring", strconv.Itoa(size), "0", "20000000"); cr != nil {
					b.ReportMetric(cr["mps"]/1e6, "C-Mmsgs/s")
					b.ReportMetric(mps/(cr["mps"]/1e6), "x-C")
				}
			})
		}
	}
}

// pingOffset is where the reply ring starts in the ping-pong segment.
var pingOffset = (SPSCSize(64, 64) + 127) &^ 127

// latencies keeps the last samples of a benchmark without allocating in
// the timed loop.
type latencies struct {
	s []time.Duration
	n int
}

func newLatencies() *latencies { return &latencies{s: make([]time.Duration, 1<<20)} }

func (l *latencies) add(d time.Duration) {
	l.s[l.n%len(l.s)] = d
	l.n++
}

func (l *latencies) pct(p int) time.Duration {
	s := slices.Clone(l.s[:min(l.n, len(l.s))])
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)*p/100]
}

// reportPyPipe reports Python's Pipe round trip (py-p50-ns) and how many
// times faster a round trip of p50 ns is (x-faster-than-py), or logs why
// there is no Python baseline.
func reportPyPipe(b *testing.B, p50 float64) {
	py, err := pyPipe()
	if err != nil {
		b.Logf("no Python baseline: %v", err)
		return
	}
	b.ReportMetric(py["p50_ns"], "py-p50-ns")
	b.ReportMetric(py["p50_ns"]/p50, "x-faster-than-py")
}

// pyPipe runs Python's Pipe ping-pong, up to 20,000 round trips in 2 s,
// once per test binary.
func pyPipe() (baseline.Result, error) {
	return baseline.Python(baseline.PySource, "pipe", "2000", "20000")
}

// BenchmarkPingPong sends an 8-byte request to a child through one SPSC
// ring and waits for the echo on another. It reports the round trip's
// p50-ns and p99-ns, the C spin ping-pong's (C-p50-ns, x-C-spin: the ratio
// to the physical floor), and Python's multiprocessing.Pipe
// (py-p50-ns, x-faster-than-py).
func BenchmarkPingPong(b *testing.B) {
	name, mem := newSegment(b, pingOffset+SPSCSize(64, 64))
	req, err := NewSPSC(mem, 64, 64)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := NewSPSC(mem[pingOffset:], 64, 64)
	if err != nil {
		b.Fatal(err)
	}
	pl := proctest.NewPlacement(b)
	c := proctest.Start(b, "bench-echo", pl.PeerArgs(name), nil)
	unpin := pl.Pin(b, 0)
	ctx := context.Background()
	p50 := pingPong(b, func(m []byte) error { return req.Send(ctx, m) },
		func(buf []byte) (int, error) { return resp.Recv(ctx, buf) })
	_ = req.Close()
	unpin()
	c.MustSucceed(b, childTimeout)
	// 300,000 round trips, both sides spinning on bare loads.
	if cr := cResult(b, "spin", "0", "300000", "0"); cr != nil {
		b.ReportMetric(cr["p50_ns"], "C-p50-ns")
		b.ReportMetric(cr["p99_ns"], "C-p99-ns")
		b.ReportMetric(p50/cr["p50_ns"], "x-C-spin")
	}
	reportPyPipe(b, p50)
}

// pingPong times b.N round trips of an 8-byte sequence number through send
// and recv to an echoing peer, after 1000 untimed ones (a warm-up, and
// proof the peer runs); it checks every echo, reports p50-ns and p99-ns,
// and returns the p50.
func pingPong(b *testing.B, send func([]byte) error, recv func([]byte) (int, error)) float64 {
	msg := make([]byte, 8)
	buf := make([]byte, 64)
	lat := newLatencies()
	for i := range 1000 {
		fillSeq(msg, uint64(i))
		_ = send(msg)
		_, _ = recv(buf)
	}
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		fillSeq(msg, i)
		t0 := time.Now()
		if err := send(msg); err != nil {
			b.Fatal(err)
		}
		n, err := recv(buf)
		lat.add(time.Since(t0))
		if err != nil || !checkSeq(buf[:n], i) {
			b.Fatalf("echo %d: % x %v", i, buf[:n], err)
		}
		i++
	}
	p50 := float64(lat.pct(50))
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(float64(lat.pct(99)), "p99-ns")
	return p50
}

// BenchmarkBandwidth64KiB moves 64 KiB messages from this process to a
// child: through a 32-slot SPSC ring with Send and Recv (two copies), with
// Reserve/Commit and Peek/Release (filled and read in place), through a
// unix socketpair, and (the ceiling) with copy in one process. GB/s.
func BenchmarkBandwidth64KiB(b *testing.B) {
	const size = 64 << 10
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i * 7)
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)*size/b.Elapsed().Seconds()/1e9, "GB/s")
	}
	for _, mode := range []string{"copy", "zero-copy"} {
		b.Run("ring/"+mode, func(b *testing.B) {
			const slots = 32
			name, _, ring := newRingSegment(b, "spsc", slots, size, 0)
			r := ring.(*SPSC)
			childMode := "copy"
			if mode == "zero-copy" {
				childMode = "peek"
			}
			c := proctest.Start(b, "bench-recv-64k", []string{name, childMode}, nil)
			ctx := context.Background()
			for range 2 * slots { // fault the ring's pages in
				_ = r.Send(ctx, src)
			}
			proctest.WaitFor(b, "child", func() bool { return r.Len() == 0 })
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if mode == "copy" {
					if err := r.Send(ctx, src); err != nil {
						b.Fatal(err)
					}
					continue
				}
				m, err := r.Reserve(ctx)
				if err != nil {
					b.Fatal(err)
				}
				copy(m, src) // produce in place
				if err := r.Commit(size); err != nil {
					b.Fatal(err)
				}
			}
			_ = r.Close()
			c.MustSucceed(b, childTimeout)
			report(b)
		})
	}
	b.Run("socketpair", func(b *testing.B) { socketpairBandwidth(b, src) })
	b.Run("memcpy", func(b *testing.B) {
		dst := make([]byte, size)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, src)
		}
		report(b)
	})
}

// BenchmarkMPMC2x2 runs 2 producer and 2 consumer goroutines in this
// process over an MPMC ring of 1024 slots in a shared segment, and over a
// chan [8]byte of capacity 1024. The benchmark goroutine is one producer;
// Mmsgs/s counts what the consumers received.
func BenchmarkMPMC2x2(b *testing.B) {
	type pipe struct {
		send  func(uint64) error
		recv  func() (uint64, error)
		close func()
	}
	run := func(b *testing.B, p pipe) {
		var got atomic.Int64
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := p.recv(); err != nil {
						return
					}
					got.Add(1)
				}
			}()
		}
		stop := make(chan struct{})
		var pwg sync.WaitGroup
		pwg.Add(1)
		go func() { // the second producer
			defer pwg.Done()
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if p.send(i) != nil {
					return
				}
			}
		}()
		b.ReportAllocs()
		start := time.Now()
		i := uint64(0)
		for b.Loop() {
			if err := p.send(i); err != nil {
				b.Fatal(err)
			}
			i++
		}
		close(stop)
		pwg.Wait()
		p.close()
		wg.Wait()
		b.ReportMetric(float64(got.Load())/time.Since(start).Seconds()/1e6, "Mmsgs/s")
	}
	b.Run("ring", func(b *testing.B) {
		_, mem := newSegment(b, MPMCSize(1024, 8))
		r, err := NewMPMC(mem, 1024, 8)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		run(b, pipe{
			send: func(i uint64) error {
				var m [8]byte
				binary.LittleEndian.PutUint64(m[:], i)
				return r.Send(ctx, m[:])
			},
			recv: func() (uint64, error) {
				var m [8]byte
				_, err := r.Recv(ctx, m[:])
				return binary.LittleEndian.Uint64(m[:]), err
			},
			close: func() { _ = r.Close() },
		})
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan [8]byte, 1024)
		run(b, pipe{
			send: func(i uint64) error {
				var m [8]byte
				binary.LittleEndian.PutUint64(m[:], i)
				ch <- m
				return nil
			},
			recv: func() (uint64, error) {
				m, ok := <-ch
				if !ok {
					return 0, ErrClosed
				}
				return binary.LittleEndian.Uint64(m[:]), nil
			},
			close: func() { close(ch) },
		})
	})
}

// Select, Queue and Pipe benchmarks:
//
//	BenchmarkSelect            round trip (spin) and one-way wake-up
//	                           latency (asleep) through Recv on one ring,
//	                           and through Select over 1 and 4 rings then
//	                           TryRecv; p50/p99 ns and the ratio to Recv
//	BenchmarkQueue             Queue[int] items/s from a producer process to
//	                           this one (per item, and in batches of 64), vs
//	                           8-byte ints through an os.Pipe and Python's
//	                           mp.Queue and mp.SimpleQueue
//	BenchmarkConnPingPong      Pipe round trip of 8 bytes across processes,
//	                           p50/p99 ns, vs Python's multiprocessing.Pipe
//	BenchmarkConnBandwidth64KiB 64 KiB Conn messages to a child, GB/s, vs a
//	                           unix socketpair

func init() {
	// name k mode: echo requests from the ring at 0 to reply ring
	// (seq % k) until ErrClosed. Mode spin: at once; mode asleep: after a
	// pause long enough for the waiter to be asleep in the kernel, with the
	// CLOCK_MONOTONIC time of the send in the reply's second word.
	roles["bench-select-echo"] = func() int {
		a := proctest.Args()
		mem := openSegment(a[0])
		k := proctest.ArgInt(1)
		req, err := AttachSPSC(mem)
		if err != nil {
			proctest.Fail("attach: %v", err)
		}
		reps := make([]*SPSC, k)
		for i := range reps {
			if reps[i], err = AttachSPSC(mem[(i+1)*pingOffset:]); err != nil {
				proctest.Fail("attach: %v", err)
			}
		}
		asleep := a[2] == "asleep"
		buf := make([]byte, 64)
		ctx := context.Background()
		for {
			n, err := req.Recv(ctx, buf)
			if err == ErrClosed {
				return 0
			}
			if err != nil || n != 16 {
				proctest.Fail("recv: %d %v", n, err)
			}
			if asleep { // busy: a timer sleep would overshoot by far
				for t0 := time.Now(); time.Since(t0) < selectPause; {
				}
				binary.LittleEndian.PutUint64(buf[8:], monoNow())
			}
			seq := binary.LittleEndian.Uint64(buf)
			if err := reps[seq%uint64(k)].Send(ctx, buf[:16]); err != nil {
				proctest.Fail("send: %v", err)
			}
		}
	}
	// ref mode: open the queue (its segment is descriptor 3) and put 0,
	// 1, 2, ... until ErrClosed, with Put (mode single) or PutBatch of 64
	// (mode batch).
	roles["bench-queue-put"] = func() int {
		var r QueueRef
		if err := json.Unmarshal([]byte(proctest.Args()[0]), &r); err != nil {
			proctest.Fail("ref: %v", err)
		}
		shm.Adopt(r.Seg.PID, r.Seg.ID, 3)
		q, err := OpenQueue[int](r, nil)
		if err != nil {
			proctest.Fail("open: %v", err)
		}
		ctx := context.Background()
		if proctest.Args()[1] == "batch" {
			vs := make([]int, 64)
			for i := 0; ; i += len(vs) {
				for k := range vs {
					vs[k] = i + k
				}
				if _, err := q.PutBatch(ctx, vs); err != nil {
					if err == ErrClosed {
						return 0
					}
					proctest.Fail("put %d: %v", i, err)
				}
			}
		}
		for i := 0; ; i++ {
			if err := q.Put(ctx, i); err != nil {
				if err == ErrClosed {
					return 0
				}
				proctest.Fail("put %d: %v", i, err)
			}
		}
	}
	// Write 0, 1, 2, ... as 8-byte words to fd 3, one write each, until
	// the reader closes.
	roles["bench-pipe-put"] = func() int {
		var b [8]byte
		for i := uint64(0); ; i++ {
			binary.LittleEndian.PutUint64(b[:], i)
			for {
				_, err := unix.Write(3, b[:])
				if err == unix.EINTR {
					continue
				}
				if err == unix.EPIPE {
					return 0
				}
				if err != nil {
					proctest.Fail("write: %v", err)
				}
				break
			}
		}
	}
	// ref mode: open the Conn end (descriptor 3). Mode echo: echo every
	// message until EOF. Mode sink: receive messages into one buffer until
	// EOF (every byte is copied out) and print the byte count.
	roles["bench-conn"] = func() int {
		var r ConnRef
		if err := json.Unmarshal([]byte(proctest.Args()[0]), &r); err != nil {
			proctest.Fail("ref: %v", err)
		}
		shm.Adopt(r.Seg.PID, r.Seg.ID, 3)
		c, err := OpenConn(r)
		if err != nil {
			proctest.Fail("open: %v", err)
		}
		ctx := context.Background()
		buf := make([]byte, 64<<10)
		var total int
		for {
			n, err := c.RecvInto(ctx, buf)
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(os.Stderr, total)
				return 0
			}
			if err != nil {
				proctest.Fail("recv: %v", err)
			}
			total += n
			if proctest.Args()[1] == "echo" {
				if err := c.Send(ctx, buf[:n]); err != nil {
					proctest.Fail("send: %v", err)
				}
			}
		}
	}
}

// selectPause is how long the asleep echo waits before replying: beyond
// the spinning phase, so the waiter sleeps in the kernel.
const selectPause = 200 * time.Microsecond

// monoNow reads CLOCK_MONOTONIC, which every process shares.
func monoNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// recvP50 keeps the Recv figures of BenchmarkSelect for the ratios of the
// Select runs that follow it.
var recvP50 = map[string]float64{}

// BenchmarkSelect measures what waiting through Select costs next to a
// plain Recv, across processes. Mode spin: round trip of a request and
// its echo, which the waiter catches while spinning. Mode asleep: the
// echo comes after a 200 µs pause, so the waiter is asleep in the kernel
// (futex_wait for Recv, futex_waitv for Select); the figure is the
// one-way latency from the child's send to the parent holding the
// message (CLOCK_MONOTONIC on both sides), which on a VM is mostly the
// wake-up of an idle virtual CPU. x-recv is Select's p50 over that of the
// latest Recv run (with -count N, Go runs each sub-benchmark N times in a
// row: the ratio is to the last of them).
func BenchmarkSelect(b *testing.B) {
	for _, mode := range []string{"spin", "asleep"} {
		for _, v := range []struct {
			name string
			k    int
		}{{"recv", 1}, {"select1", 1}, {"select4", 4}} {
			b.Run(mode+"/"+v.name, func(b *testing.B) {
				benchSelect(b, mode, v.name, v.k)
			})
		}
	}
}

func benchSelect(b *testing.B, mode, name string, k int) {
	name0, mem := newSegment(b, (k+1)*pingOffset)
	req, err := NewSPSC(mem, 64, 64)
	if err != nil {
		b.Fatal(err)
	}
	reps := make([]*SPSC, k)
	cases := make([]Case, k)
	for i := range reps {
		if reps[i], err = NewSPSC(mem[(i+1)*pingOffset:], 64, 64); err != nil {
			b.Fatal(err)
		}
		cases[i] = RecvReady(reps[i])
	}
	c := proctest.Start(b, "bench-select-echo", []string{name0, strconv.Itoa(k), mode}, nil)
	ctx := context.Background()
	msg := make([]byte, 16)
	buf := make([]byte, 64)
	seq := uint64(0)
	roundTrip := func() (time.Duration, error) {
		binary.LittleEndian.PutUint64(msg, seq)
		t0 := time.Now()
		if err := req.Send(ctx, msg); err != nil {
			return 0, err
		}
		var n int
		var err error
		if name == "recv" {
			n, err = reps[0].Recv(ctx, buf)
		} else {
			for {
				var i int
				if i, err = Select(ctx, cases...); err != nil {
					return 0, err
				}
				if n, err = reps[i].TryRecv(buf); err != ErrEmpty {
					break
				}
			}
		}
		d := time.Since(t0)
		if mode == "asleep" {
			d = time.Duration(monoNow() - binary.LittleEndian.Uint64(buf[8:]))
		}
		if err == nil && (n != 16 || binary.LittleEndian.Uint64(buf) != seq) {
			err = fmt.Errorf("reply %d: % x", seq, buf[:n])
		}
		seq++
		return d, err
	}
	for range 100 { // warm up, and make sure the child runs
		if _, err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	lat := newLatencies()
	b.ReportAllocs()
	for b.Loop() {
		d, err := roundTrip()
		if err != nil {
			b.Fatal(err)
		}
		lat.add(d)
	}
	_ = req.Close()
	c.MustSucceed(b, childTimeout)
	p50 := float64(lat.pct(50))
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(float64(lat.pct(99)), "p99-ns")
	if name == "recv" {
		recvP50[mode] = p50
	} else if r := recvP50[mode]; r > 0 {
		b.ReportMetric(p50/r, "x-recv")
	}
}

// BenchmarkQueue streams ints from a producer process to this one: through
// a Queue[int] (Put and Get per item, or PutBatch and GetBatch of 64; each
// item checked) and, as baselines, through an os.Pipe (one 8-byte write
// and read per int) and Python's mp.Queue and mp.SimpleQueue (1 producer,
// 1 consumer, int items). items/s and the ratios (x-py-queue,
// x-py-simplequeue, x-pipe) are reported on the queue runs, x-pipe against
// an os.Pipe run of 100,000 items made right after each.
func BenchmarkQueue(b *testing.B) {
	b.Run("os-pipe", func(b *testing.B) {
		r, c := startPipePut(b)
		var buf [8]byte
		i := uint64(0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.ReadFull(r, buf[:]); err != nil {
				b.Fatal(err)
			}
			if binary.LittleEndian.Uint64(buf[:]) != i {
				b.Fatalf("item %d: % x", i, buf)
			}
			i++
		}
		rate := float64(b.N) / b.Elapsed().Seconds()
		_ = r.Close()
		c.MustSucceed(b, childTimeout)
		b.ReportMetric(rate/1e6, "Mitems/s")
	})
	for _, mode := range []string{"single", "batch"} {
		b.Run("queue/"+mode, func(b *testing.B) {
			benchQueue(b, mode)
		})
	}
}

// startPipePut starts a bench-pipe-put child writing ints into an
// os.Pipe and returns the read end.
func startPipePut(b *testing.B) (*os.File, *proctest.Child) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	c := proctest.Start(b, "bench-pipe-put", nil, &proctest.Options{Files: []*os.File{w}})
	_ = w.Close()
	return r, c
}

// pipeItems reads n ints from a bench-pipe-put child, outside the timed
// loop, and returns items/s: the os.Pipe baseline measured right next to
// the run it is compared with (the VM's core placement changes from one
// child process to the next).
func pipeItems(b *testing.B, n int) float64 {
	r, c := startPipePut(b)
	var buf [8]byte
	t0 := time.Now()
	for i := range n {
		if _, err := io.ReadFull(r, buf[:]); err != nil || binary.LittleEndian.Uint64(buf[:]) != uint64(i) {
			b.Fatalf("pipe item %d: % x %v", i, buf, err)
		}
	}
	rate := float64(n) / time.Since(t0).Seconds()
	_ = r.Close()
	c.MustSucceed(b, childTimeout)
	return rate
}

// benchQueue is BenchmarkQueue's run of a Queue[int]: Get per item (mode
// single), or GetBatch of up to 64 items with the producer's PutBatch of
// 64 (mode batch). Every item is checked.
func benchQueue(b *testing.B, mode string) {
	q, err := NewQueue[int](1024)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Detach()
	f, err := q.seg.Dup()
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := json.Marshal(q.Ref())
	c := proctest.Start(b, "bench-queue-put", []string{string(ref), mode}, &proctest.Options{Files: []*os.File{f}})
	_ = f.Close()
	ctx := context.Background()
	i := 0
	for ; i < 1024; i++ { // warm up: the child runs
		if v, err := q.Get(ctx); v != i || err != nil {
			b.Fatalf("item %d: %d %v", i, v, err)
		}
	}
	start := i
	vs := make([]int, 64)
	b.ReportAllocs()
	for b.Loop() {
		if mode == "single" {
			v, err := q.Get(ctx)
			if v != i || err != nil {
				b.Fatalf("item %d: %d %v", i, v, err)
			}
			i++
			continue
		}
		n, err := q.GetBatch(ctx, vs)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range vs[:n] {
			if v != i {
				b.Fatalf("item %d: %d", i, v)
			}
			i++
		}
	}
	rate := float64(i-start) / b.Elapsed().Seconds()
	_ = q.Close()
	c.MustSucceed(b, childTimeout)
	b.ReportMetric(rate/1e6, "Mitems/s")
	b.ReportMetric(1e9/rate, "ns/item")
	b.ReportMetric(rate/pipeItems(b, 100_000), "x-pipe")
	for _, kind := range []string{"queue", "simplequeue"} {
		// Python: a child process puts 100,000 ints, its parent gets them.
		py, err := baseline.Python(baseline.PySource, kind+"-drain", "0", "100000")
		if err != nil {
			b.Logf("no Python baseline: %v", err)
			return
		}
		b.ReportMetric(py["items_per_s"]/1e3, "py-"+kind+"-kitems/s")
		b.ReportMetric(rate/py["items_per_s"], "x-py-"+kind)
	}
}

// BenchmarkConnPingPong sends 8 bytes through a duplex Pipe to a child
// that echoes them (RecvInto, Send), and reports the round trip's p50-ns
// and p99-ns next to Python's multiprocessing.Pipe (py-p50-ns,
// x-faster-than-py).
func BenchmarkConnPingPong(b *testing.B) {
	a, peer, err := Pipe(true)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c := startConnChild(b, peer, "echo")
	ctx := context.Background()
	p50 := pingPong(b, func(m []byte) error { return a.Send(ctx, m) },
		func(buf []byte) (int, error) { return a.RecvInto(ctx, buf) })
	_ = a.Close()
	c.MustSucceed(b, childTimeout)
	reportPyPipe(b, p50)
}

// startConnChild hands peer to a bench-conn child in the given mode and
// detaches this process's copy.
func startConnChild(b *testing.B, peer *Conn, mode string) *proctest.Child {
	f, err := peer.seg.Dup()
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := json.Marshal(peer.Ref())
	c := proctest.Start(b, "bench-conn", []string{string(ref), mode}, &proctest.Options{Files: []*os.File{f}})
	_ = f.Close()
	_ = peer.Detach()
	return c
}

// BenchmarkConnBandwidth64KiB sends 64 KiB messages through a Pipe with
// the default geometry to a child that copies each out with RecvInto, and
// through a unix socketpair to a child that reads them. GB/s; the conn
// run reports x-socketpair, its ratio to a socketpair run of 4000
// messages made right after it.
func BenchmarkConnBandwidth64KiB(b *testing.B) {
	const size = 64 << 10
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i * 7)
	}
	b.Run("socketpair", func(b *testing.B) { socketpairBandwidth(b, src) })
	b.Run("conn", func(b *testing.B) {
		a, peer, err := Pipe(false)
		if err != nil {
			b.Fatal(err)
		}
		defer peer.Close()
		c := startConnChild(b, a, "sink")
		ctx := context.Background()
		for range 64 { // fault the rings' pages in
			_ = peer.Send(ctx, src)
		}
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if err := peer.Send(ctx, src); err != nil {
				b.Fatal(err)
			}
		}
		rate := float64(b.N) * size / b.Elapsed().Seconds() / 1e9
		_ = peer.Close()
		c.MustSucceed(b, childTimeout)
		b.ReportMetric(rate, "GB/s")
		b.ReportMetric(rate/socketpairGBs(b, src, 4000), "x-socketpair")
	})
}

// socketpairGBs writes src n times into a unix socketpair read by a
// child, outside the timed loop, and returns GB/s: the baseline measured
// right next to the run it is compared with.
func socketpairGBs(b *testing.B, src []byte, n int) float64 {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "socketpair")
	c := proctest.Start(b, "bench-sock-read", nil, &proctest.Options{Files: []*os.File{peer}})
	_ = peer.Close()
	t0 := time.Now()
	for range n {
		for p := src; len(p) > 0; {
			k, err := unix.Write(fds[0], p)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			p = p[k:]
		}
	}
	_ = unix.Close(fds[0])
	c.MustSucceed(b, childTimeout)
	return float64(n) * float64(len(src)) / time.Since(t0).Seconds() / 1e9
}

// socketpairBandwidth writes src repeatedly into a unix socketpair read by
// a child, and reports GB/s.
func socketpairBandwidth(b *testing.B, src []byte) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "socketpair")
	c := proctest.Start(b, "bench-sock-read", nil, &proctest.Options{Files: []*os.File{peer}})
	_ = peer.Close()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		for p := src; len(p) > 0; {
			n, err := unix.Write(fds[0], p)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
	rate := float64(b.N) * float64(len(src)) / b.Elapsed().Seconds() / 1e9
	_ = unix.Close(fds[0])
	c.MustSucceed(b, childTimeout)
	b.ReportMetric(rate, "GB/s")
}
