package ring

import (
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
)

// Layout constants shared by both rings. Every multi-byte field is in the
// machine's native byte order (little-endian on amd64 and arm64).
const (
	// Magic is the first word of every ring: the bytes "shmR".
	Magic = 0x526d6873
	// Version is the layout version this package writes and accepts
	// (2: SPSC rings publish through slot marks; MPMC is as in 1).
	Version = 2

	kindSPSC = 1
	kindMPMC = 2

	// lineSize separates fields written by different parties. 128 bytes,
	// two 64-byte lines, so that the adjacent-line prefetcher of x86 cores
	// does not couple them either.
	lineSize = 128
	// ControlSize is the size of the control block in front of the slots.
	ControlSize = 4 * lineSize
	// Alignment is the alignment the memory of a ring must have.
	Alignment = 64

	// closedBit, in an MPMC ring's enqueue position word, marks it closed.
	closedBit = 1 << 63
	posMask   = closedBit - 1

	// MaxSlots and MaxSlotSize bound a ring's geometry.
	MaxSlots    = 1 << 30
	MaxSlotSize = 1 << 30

	spscSlotHeader = 8
	mpmcSlotHeader = 16
)

// control is the fixed 512-byte block at the start of both rings: four
// 128-byte lines, each written by one party.
//
//	offset size field
//	  0    4    magic     Magic ("shmR")
//	  4    4    version   Version (2)
//	  8    4    kind      1 SPSC, 2 MPMC
//	 12    4    slots     number of slots, a power of two
//	 16    4    slotSize  largest message, bytes
//	 20    4    stride    bytes from one slot to the next
//	 24    8    size      bytes of the whole ring: ControlSize + slots*stride
//	 32   96    (zero)
//	128    8    tail      enqueue position; MPMC: bit 63 closed
//	136    4    sendPid   SPSC: pid of the process that last sent; MPMC: 0
//	140  116    (zero)
//	256    8    head      dequeue position
//	264    4    recvPid   SPSC: pid of the process that last received; MPMC: 0
//	268  116    (zero)
//	384    4    notEmpty  futex word receivers sleep on
//	388    4    notFull   futex word senders sleep on
//	392    4    closed    SPSC: 1 once closed; MPMC: 0
//	396  116    (zero)
//
// The header line (0-127) is written once, by New…, magic last; Attach…
// reads it once and keeps its own copy. Positions count messages since the
// ring was made (they never wrap in practice: 2^63 messages); a position p
// lives in slot p & (slots-1).
type control struct {
	magic    uint32
	version  uint32
	kind     uint32
	slots    uint32
	slotSize uint32
	stride   uint32
	size     uint64
	_        [lineSize - 32]byte

	tail    uint64
	sendPid uint32
	_       [lineSize - 12]byte

	head    uint64
	recvPid uint32
	_       [lineSize - 12]byte

	notEmpty uint32
	notFull  uint32
	closed   uint32
	_        [lineSize - 12]byte
}

// stride returns the distance between slots for a slot size.
func stride(hdr, slotSize int) int { return hdr + (slotSize+7)&^7 }

// ringSize returns the bytes a ring of this geometry needs, or 0 when the
// geometry is out of range.
func ringSize(hdr, minSlots, slots, slotSize int) int {
	if slots < minSlots || slots > MaxSlots || slots&(slots-1) != 0 ||
		slotSize < 1 || slotSize > MaxSlotSize {
		return 0
	}
	st := stride(hdr, slotSize)
	if slots > (math.MaxInt-ControlSize)/st {
		return 0
	}
	return ControlSize + slots*st
}

// core is what both ring handles share: the control block and this
// process's copy of the geometry, read once from the header.
type core struct {
	c        *control
	slotArea []byte // mem[ControlSize:size]
	slots    uint64
	mask     uint64
	shift    uint // log2(slots)
	slotSize int
	stride   int
}

// initCore writes a fresh header for a ring of the given kind over mem,
// with every word but the header and the slot headers (done by the caller)
// zeroed. The magic is stored last.
func initCore(mem []byte, kind uint32, hdr, minSlots, slots, slotSize int) (core, error) {
	size := ringSize(hdr, minSlots, slots, slotSize)
	if size == 0 {
		return core{}, ErrGeometry
	}
	if err := checkMem(mem, size); err != nil {
		return core{}, err
	}
	c, err := ctypes.View[control](mem)
	if err != nil {
		return core{}, ErrShortMemory
	}
	atomic.StoreUint32(&c.magic, 0)
	clear(mem[4:ControlSize])
	atomic.StoreUint32(&c.version, Version)
	atomic.StoreUint32(&c.kind, kind)
	atomic.StoreUint32(&c.slots, uint32(slots))
	atomic.StoreUint32(&c.slotSize, uint32(slotSize))
	atomic.StoreUint32(&c.stride, uint32(stride(hdr, slotSize)))
	atomic.StoreUint64(&c.size, uint64(size))
	k := newCore(c, mem, slots, slotSize, stride(hdr, slotSize), size)
	return k, nil
}

// publishHeader stores the magic, after which Attach… accepts the ring.
func (k *core) publishHeader() { atomic.StoreUint32(&k.c.magic, Magic) }

func newCore(c *control, mem []byte, slots, slotSize, st, size int) core {
	return core{
		c:        c,
		slotArea: mem[ControlSize:size:size],
		slots:    uint64(slots),
		mask:     uint64(slots - 1),
		shift:    uint(bits.TrailingZeros64(uint64(slots))),
		slotSize: slotSize,
		stride:   st,
	}
}

func checkMem(mem []byte, size int) error {
	if len(mem) < size {
		return ErrShortMemory
	}
	if ctypes.AlignOffset(mem, Alignment) != 0 {
		return ErrAlignment
	}
	return nil
}

// attachCore validates the header in mem, reading each field once, and
// returns the geometry it describes.
func attachCore(mem []byte, kind uint32, hdr, minSlots int) (core, error) {
	if err := checkMem(mem, ControlSize); err != nil {
		return core{}, err
	}
	c, err := ctypes.View[control](mem)
	if err != nil {
		return core{}, ErrShortMemory
	}
	if atomic.LoadUint32(&c.magic) != Magic {
		return core{}, ErrBadMagic
	}
	if atomic.LoadUint32(&c.version) != Version {
		return core{}, ErrVersion
	}
	if atomic.LoadUint32(&c.kind) != kind {
		return core{}, ErrKind
	}
	slots := int(atomic.LoadUint32(&c.slots))
	slotSize := int(atomic.LoadUint32(&c.slotSize))
	st := int(atomic.LoadUint32(&c.stride))
	size := atomic.LoadUint64(&c.size)
	want := ringSize(hdr, minSlots, slots, slotSize)
	if want == 0 || st != stride(hdr, slotSize) || size != uint64(want) {
		return core{}, ErrGeometry
	}
	if len(mem) < want {
		return core{}, ErrShortMemory
	}
	return newCore(c, mem, slots, slotSize, st, want), nil
}

// length counts the messages between the positions, clamped to the
// geometry.
func (k *core) length() int {
	h := atomic.LoadUint64(&k.c.head)
	t := atomic.LoadUint64(&k.c.tail) & posMask
	if t < h {
		return 0
	}
	return int(min(t-h, k.slots))
}

// closed reports an MPMC ring closed (SPSC: SPSC.Closed).
func (k *core) closed() bool { return atomic.LoadUint64(&k.c.tail)&closedBit != 0 }

// close sets the closed bit in the enqueue position and wakes every
// sleeper on both wait words (MPMC; an SPSC ring keeps its closed flag in
// the wait line, see SPSC.Close).
func (k *core) close() {
	atomic.OrUint64(&k.c.tail, closedBit)
	bump(&k.c.notEmpty)
	bump(&k.c.notFull)
}
