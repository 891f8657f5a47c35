package ring

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"testing"
)

// Stress messages carry their producer, their sequence number and a
// checksum of everything else, so a receiver can tell a torn, duplicated,
// lost or reordered message:
//
//	0  4 producer id
//	4  8 sequence number (per producer, from 0)
//	12 4 CRC-32 (Castagnoli) of bytes 0-11 and 16-end
//	16 … payload derived from producer and sequence
const msgHeader = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// msgLen is the length of message (p, s) in a ring of slot size max.
func msgLen(p, s uint64, max int) int {
	return msgHeader + int((p*7919+s*104729)%uint64(max-msgHeader+1))
}

// makeMsg writes message (p, s) into buf (at least max bytes) and returns
// it.
func makeMsg(buf []byte, p, s uint64, max int) []byte {
	m := buf[:msgLen(p, s, max)]
	binary.LittleEndian.PutUint32(m, uint32(p))
	binary.LittleEndian.PutUint64(m[4:], s)
	x := p*0x9E3779B97F4A7C15 ^ s
	for i := msgHeader; i < len(m); i++ {
		x = x*6364136223846793005 + 1442695040888963407
		m[i] = byte(x >> 56)
	}
	binary.LittleEndian.PutUint32(m[12:], checksum(m))
	return m
}

func checksum(m []byte) uint32 {
	c := crc32.Update(0, castagnoli, m[:12])
	return crc32.Update(c, castagnoli, m[msgHeader:])
}

// checkMsg returns the producer and sequence of a message, or an error if
// it is torn.
func checkMsg(m []byte) (p, s uint64, err error) {
	if len(m) < msgHeader {
		return 0, 0, fmt.Errorf("message of %d bytes", len(m))
	}
	p = uint64(binary.LittleEndian.Uint32(m))
	s = binary.LittleEndian.Uint64(m[4:])
	if binary.LittleEndian.Uint32(m[12:]) != checksum(m) {
		return p, s, fmt.Errorf("torn message: producer %d seq %d len %d", p, s, len(m))
	}
	return p, s, nil
}

// history records what consumers received: one bit per (producer,
// sequence), set once. It may live in shared memory.
type history struct {
	bits    []uint32
	perProd int
}

func (h *history) mark(p, s uint64) error {
	if p >= uint64(len(h.bits)*32/h.perProd) || s >= uint64(h.perProd) {
		return fmt.Errorf("message from producer %d seq %d out of range", p, s)
	}
	i := int(p)*h.perProd + int(s)
	if old := atomic.OrUint32(&h.bits[i/32], 1<<(i%32)); old&(1<<(i%32)) != 0 {
		return fmt.Errorf("producer %d seq %d received twice", p, s)
	}
	return nil
}

func (h *history) has(p, s int) bool {
	i := p*h.perProd + s
	return atomic.LoadUint32(&h.bits[i/32])&(1<<(i%32)) != 0
}

// count returns how many messages of producer p arrived, and whether they
// are a prefix of its sequence (no gaps).
func (h *history) count(p int) (n int, prefix bool) {
	prefix = true
	for s := range h.perProd {
		if h.has(p, s) {
			n++
			if n != s+1 {
				prefix = false
			}
		}
	}
	return n, prefix
}

// fifo checks per-producer order at one consumer.
type fifo map[uint64]uint64

func (f fifo) check(p, s uint64) error {
	if last, ok := f[p]; ok && s <= last {
		return fmt.Errorf("producer %d: seq %d after %d", p, s, last)
	}
	f[p] = s
	return nil
}

// ring is what the stress drivers need of SPSC and MPMC.
type anyRing interface {
	Send(context.Context, []byte) error
	Recv(context.Context, []byte) (int, error)
	SendBatch(context.Context, [][]byte) (int, error)
	RecvBatch(context.Context, [][]byte) (int, error)
	SlotSize() int
	Close() error
}

// produce sends n messages as producer p, batching every other run of
// batch messages when batch > 1.
func produce(ctx context.Context, r anyRing, p uint64, n, batch int) error {
	max := r.SlotSize()
	bufs := make([][]byte, batch)
	msgs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, max)
	}
	for s := 0; s < n; {
		k := min(batch, n-s)
		if batch > 1 && (s/batch)%2 == 0 {
			for i := range k {
				msgs[i] = makeMsg(bufs[i], p, uint64(s+i), max)
			}
			sent, err := r.SendBatch(ctx, msgs[:k])
			if err != nil {
				return fmt.Errorf("producer %d batch at %d: sent %d: %w", p, s, sent, err)
			}
			s += k
			continue
		}
		if err := r.Send(ctx, makeMsg(bufs[0], p, uint64(s), max)); err != nil {
			return fmt.Errorf("producer %d seq %d: %w", p, s, err)
		}
		s++
	}
	return nil
}

// consume receives until ErrClosed, checking every message and recording
// it in h. It returns how many it received.
func consume(ctx context.Context, r anyRing, h *history, batch int, onErr func(error) bool) (int, error) {
	return consumeCounting(ctx, r, h, batch, onErr, nil)
}

// consumeCounting is consume that also adds each message to progress.
func consumeCounting(ctx context.Context, r anyRing, h *history, batch int, onErr func(error) bool, progress *atomic.Int64) (int, error) {
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, r.SlotSize())
	}
	order := fifo{}
	got := 0
	for round := 0; ; round++ {
		var n int
		var err error
		if batch > 1 && round%2 == 1 {
			n, err = r.RecvBatch(ctx, bufs)
		} else {
			bufs[0] = bufs[0][:cap(bufs[0])]
			n, err = r.Recv(ctx, bufs[0])
			bufs[0] = bufs[0][:n]
			n = 1
		}
		if err == ErrClosed {
			return got, nil
		}
		if err != nil {
			if onErr != nil && onErr(err) {
				continue
			}
			return got, err
		}
		for _, m := range bufs[:n] {
			p, s, err := checkMsg(m)
			if err == nil {
				err = order.check(p, s)
			}
			if err == nil {
				err = h.mark(p, s)
			}
			if err != nil {
				return got, err
			}
			got++
			if progress != nil {
				progress.Add(1)
			}
		}
	}
}

func newHistory(producers, perProd int) *history {
	return &history{bits: make([]uint32, (producers*perProd+31)/32), perProd: perProd}
}

// stress runs producers and consumers goroutines over r and checks that
// every message arrives exactly once, intact, in order per producer.
func stress(t *testing.T, r anyRing, producers, consumers, perProd, batch int) {
	t.Helper()
	ctx := context.Background()
	h := newHistory(producers, perProd)
	var wg, pwg sync.WaitGroup
	var total atomic.Int64
	for c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := consume(ctx, r, h, max(1, batch-c), nil)
			total.Add(int64(n))
			if err != nil {
				t.Errorf("consumer %d: %v", c, err)
				_ = r.Close()
			}
		}()
	}
	for p := range producers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			if err := produce(ctx, r, uint64(p), perProd, max(1, batch+p)); err != nil {
				t.Errorf("%v", err)
			}
		}()
	}
	pwg.Wait()
	_ = r.Close()
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := total.Load(); got != int64(producers*perProd) {
		t.Fatalf("received %d messages, want %d", got, producers*perProd)
	}
	for p := range producers {
		if n, prefix := h.count(p); n != perProd || !prefix {
			t.Fatalf("producer %d: %d messages arrived (prefix %v), want %d", p, n, prefix, perProd)
		}
	}
}

func TestSPSCStressHeap(t *testing.T) {
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for _, g := range []struct{ slots, size, batch int }{{1, 16, 1}, {4, 40, 3}, {64, 100, 8}} {
		t.Run(fmt.Sprintf("slots=%d/size=%d/batch=%d", g.slots, g.size, g.batch), func(t *testing.T) {
			m := n
			if g.slots == 1 { // every message is a hand-off: keep it short
				m = n / 10
			}
			stress(t, newTestSPSC(t, g.slots, g.size), 1, 1, m, g.batch)
		})
	}
}

func TestMPMCStressHeap(t *testing.T) {
	n := 50000
	if testing.Short() {
		n = 5000
	}
	for _, g := range []struct{ prod, cons, slots, size, batch int }{
		{2, 2, 2, 16, 1}, {3, 2, 8, 40, 3}, {2, 3, 64, 100, 8}, {4, 4, 16, 24, 1},
	} {
		t.Run(fmt.Sprintf("%dx%d/slots=%d/size=%d/batch=%d", g.prod, g.cons, g.slots, g.size, g.batch), func(t *testing.T) {
			stress(t, newTestMPMC(t, g.slots, g.size), g.prod, g.cons, n, g.batch)
		})
	}
}
