package manager

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/release"
)

// shmMap is one generation of an object's data, mapped in this process:
// the mapping, which it owns (see shm_mmap.go; in tests, heap memory),
// typed views of it, and this process's copy of the geometry, validated
// once when it was mapped.
type shmMap struct {
	mem      []byte
	words    []uint64 // mem as 64-bit words, for atomics
	hdr      *shmObjHeader
	kind     kind
	id       uint64
	gen      uint64
	size     uint64
	slots    uint64
	mask     uint64 // slots-1 for Dict, Namespace, Queue
	arenaOff uint64
}

// shmGrowNeed asks for a new generation with room for bytes more arena and
// slots more table slots than the live data needs.
type shmGrowNeed struct{ bytes, slots uint64 }

func (g shmGrowNeed) none() bool { return g.bytes == 0 && g.slots == 0 }

func shmCorruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// shmAttachObj validates the object segment image mem, which must hold
// generation gen of object id of kind k, and returns its mapping.
func shmAttachObj(mem []byte, k kind, id, gen uint64) (*shmMap, error) {
	if len(mem) < shmObjHeaderSize || len(mem)%8 != 0 {
		return nil, shmCorruptf("object segment of %d bytes", len(mem))
	}
	hdr, err := ctypes.View[shmObjHeader](mem)
	if err != nil {
		return nil, shmCorruptf("object header: %v", err)
	}
	words, err := ctypes.Slice[uint64](mem, len(mem)/8)
	if err != nil {
		return nil, shmCorruptf("object segment: %v", err)
	}
	m := &shmMap{mem: mem, words: words, hdr: hdr, kind: k, id: id, gen: gen, size: uint64(len(mem))}
	switch {
	case !shmHasSegment(k):
		return nil, shmCorruptf("object segment of kind %d", uint32(k))
	case atomic.LoadUint32(&hdr.magic) != shmObjMagic:
		return nil, shmCorruptf("object segment: bad magic %#x", hdr.magic)
	case hdr.version != shmVersion:
		return nil, shmCorruptf("object segment: layout version %d, want %d", hdr.version, shmVersion)
	case kind(hdr.kind) != k:
		return nil, shmCorruptf("object segment holds kind %d, want %v", hdr.kind, k)
	case hdr.id != id || hdr.gen != gen:
		return nil, shmCorruptf("object segment is object %d generation %d, want %d generation %d", hdr.id, hdr.gen, id, gen)
	case hdr.size != m.size:
		return nil, shmCorruptf("object segment of %d bytes says %d", m.size, hdr.size)
	}
	m.slots, m.arenaOff = hdr.slots, hdr.arenaOff
	maxSlots := (m.size - shmObjHeaderSize) / 8
	switch {
	case m.slots < 1 || m.slots > maxSlots:
		return nil, shmCorruptf("object segment: %d table slots", m.slots)
	case k != kindList && m.slots&(m.slots-1) != 0:
		return nil, shmCorruptf("object segment: %d table slots, not a power of two", m.slots)
	case m.arenaOff != shmObjHeaderSize+8*m.slots:
		return nil, shmCorruptf("object segment: arena at %d with %d slots", m.arenaOff, m.slots)
	}
	m.mask = m.slots - 1
	return m, nil
}

// shmInitObj writes an empty generation into the zero-filled mem and maps it.
func shmInitObj(mem []byte, k kind, id, gen, slots uint64) (*shmMap, error) {
	hdr, err := ctypes.View[shmObjHeader](mem)
	if err != nil {
		return nil, err
	}
	hdr.version = shmVersion
	hdr.kind = uint32(k)
	hdr.id = id
	hdr.gen = gen
	hdr.size = uint64(len(mem))
	hdr.slots = slots
	hdr.arenaOff = shmObjHeaderSize + 8*slots
	hdr.bump = hdr.arenaOff
	atomic.StoreUint32(&hdr.magic, shmObjMagic)
	return shmAttachObj(mem, k, id, gen)
}

// slot is the table word i (i < m.slots).
func (m *shmMap) slot(i uint64) *uint64 { return &m.words[shmObjHeaderWords+i] }

// entry decodes and bounds-checks the reference ref: the entry's offset
// and its key and value lengths.
func (m *shmMap) entry(ref uint64) (off, keyLen, valLen uint64, err error) {
	off = (ref & shmRefOffMask) << 3
	if off < m.arenaOff || off > m.size-shmEntryHeader {
		return 0, 0, 0, shmCorruptf("reference %#x outside the arena [%d, %d)", ref, m.arenaOff, m.size)
	}
	w := m.words[off/8]
	keyLen, valLen = w&0xffffffff, w>>32
	if shmEntryHeader+shmPad8(valLen)+shmPad8(keyLen) > m.size-off {
		return 0, 0, 0, shmCorruptf("entry at %d (key %d, value %d bytes) overruns the segment of %d bytes", off, keyLen, valLen, m.size)
	}
	return off, keyLen, valLen, nil
}

func (m *shmMap) entryBytes(keyLen, valLen uint64) uint64 {
	return shmEntryHeader + shmPad8(valLen) + shmPad8(keyLen)
}

// key is the key of the entry at off.
func (m *shmMap) key(off, keyLen, valLen uint64) []byte {
	ko := off + shmEntryHeader + shmPad8(valLen)
	return m.mem[ko : ko+keyLen]
}

// appendValue appends the value of the entry at off to dst. A value of 1
// to 8 bytes is read with one atomic load: it may be overwritten in place.
func (m *shmMap) appendValue(dst []byte, off, valLen uint64) []byte {
	vo := off + shmEntryHeader
	if valLen == 0 {
		return dst
	}
	if valLen <= 8 {
		var w [8]byte
		binary.NativeEndian.PutUint64(w[:], atomic.LoadUint64(&m.words[vo/8]))
		return append(dst, w[:valLen]...)
	}
	return append(dst, m.mem[vo:vo+valLen]...)
}

// value returns a copy of the value of the entry at off.
func (m *shmMap) value(off, valLen uint64) []byte {
	return m.appendValue(make([]byte, 0, valLen), off, valLen)
}

func shmPackSmall(v []byte) uint64 {
	var w [8]byte
	copy(w[:], v)
	return binary.NativeEndian.Uint64(w[:])
}

// storeSmall overwrites in place the value of 1 to 8 bytes of the entry at
// off with v of the same length: one atomic store publishes it.
func (m *shmMap) storeSmall(off uint64, v []byte) {
	release.Store64(&m.words[(off+shmEntryHeader)/8], shmPackSmall(v))
}

// alloc returns the arena offset for n more bytes, or ok == false when
// the arena is full. The caller holds the lock.
func (m *shmMap) alloc(n uint64) (off uint64, ok bool, err error) {
	b := atomic.LoadUint64(&m.hdr.bump)
	if b < m.arenaOff || b > m.size || b%8 != 0 {
		return 0, false, shmCorruptf("arena end %d outside [%d, %d]", b, m.arenaOff, m.size)
	}
	if n > m.size-b {
		return 0, false, nil
	}
	return b, true, nil
}

// shmCheckEntry rejects keys and values too long for an entry's 32-bit
// lengths.
func shmCheckEntry(key, val []byte) error {
	if uint64(len(key)) > math.MaxUint32 || uint64(len(val)) > math.MaxUint32 {
		return fmt.Errorf("manager: key of %d bytes, value of %d: the limit is %d", len(key), len(val), uint64(math.MaxUint32))
	}
	return nil
}

// put writes an entry at off (from alloc) and advances bump past it. The
// entry is unreachable until the caller publishes a reference to it.
func (m *shmMap) put(off uint64, key, val []byte) {
	m.words[off/8] = uint64(len(key)) | uint64(len(val))<<32
	vo := off + shmEntryHeader
	if n := len(val); n > 0 && n <= 8 {
		atomic.StoreUint64(&m.words[vo/8], shmPackSmall(val))
	} else {
		copy(m.mem[vo:], val)
	}
	copy(m.mem[vo+shmPad8(uint64(len(val))):], key)
	atomic.StoreUint64(&m.hdr.bump, off+shmEntrySize(len(key), len(val)))
}

// copyEntry copies the entry at off of m into nm's arena (room checked by
// the caller) and returns its new offset.
func (m *shmMap) copyEntry(nm *shmMap, off, keyLen, valLen uint64) (uint64, error) {
	n := m.entryBytes(keyLen, valLen)
	noff, ok, err := nm.alloc(n)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, shmCorruptf("new generation too small")
	}
	var small [8]byte
	val := small[:0]
	if valLen > 0 && valLen <= 8 {
		val = m.appendValue(val, off, valLen)
	} else {
		val = m.mem[off+shmEntryHeader : off+shmEntryHeader+valLen]
	}
	nm.put(noff, m.key(off, keyLen, valLen), val)
	return noff, nil
}

func (m *shmMap) addGarbage(n uint64) {
	atomic.StoreUint64(&m.hdr.garbage, atomic.LoadUint64(&m.hdr.garbage)+n)
}

// live walks the live entries, in order for List and Queue, and calls fn
// with each one's reference and position. It fails on the first invalid
// reference.
func (m *shmMap) live(fn func(ref, off, keyLen, valLen uint64) error) error {
	switch m.kind {
	case kindDict, kindNamespace:
		for i := uint64(0); i < m.slots; i++ {
			ref := atomic.LoadUint64(m.slot(i))
			if ref == shmRefEmpty || ref == shmRefTombstone {
				continue
			}
			off, kl, vl, err := m.entry(ref)
			if err != nil {
				return err
			}
			if err := fn(ref, off, kl, vl); err != nil {
				return err
			}
		}
	case kindList:
		n, err := m.listLen()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			ref := atomic.LoadUint64(m.slot(i))
			off, kl, vl, err := m.entry(ref)
			if err != nil {
				return err
			}
			if err := fn(ref, off, kl, vl); err != nil {
				return err
			}
		}
	case kindQueue:
		head, tail, err := m.queueBounds()
		if err != nil {
			return err
		}
		for p := head; p != tail; p++ {
			ref := atomic.LoadUint64(m.slot(p & m.mask))
			off, kl, vl, err := m.entry(ref)
			if err != nil {
				return err
			}
			if err := fn(ref, off, kl, vl); err != nil {
				return err
			}
		}
	}
	return nil
}

// stats counts the live entries and their arena bytes.
func (m *shmMap) stats() (n, size uint64, err error) {
	if m == nil {
		return 0, 0, nil
	}
	err = m.live(func(_, _, kl, vl uint64) error {
		n++
		size += m.entryBytes(kl, vl)
		return nil
	})
	return n, size, err
}

// shmPlan returns the geometry of a new generation of kind k holding live
// entries of liveBytes plus need: a table and an arena twice what they
// must hold, so that growing and compacting cost amortized O(1) per write.
func shmPlan(k kind, live, liveBytes uint64, need shmGrowNeed) (slots, size uint64, err error) {
	if live > shmMaxObjSize/16 || liveBytes > shmMaxObjSize || need.bytes > shmMaxObjSize || need.slots > shmMaxObjSize/16 {
		return 0, 0, fmt.Errorf("manager: %v of more than %d bytes", k, uint64(shmMaxObjSize))
	}
	slots = max(shmMinSlots, 2*(live+need.slots))
	if k != kindList {
		slots = 1 << bits.Len64(slots-1)
	}
	arena := max(2*(liveBytes+need.bytes), shmInitialObjSize-shmObjHeaderSize-8*shmMinSlots)
	size = (shmObjHeaderSize + 8*slots + arena + 4095) &^ 4095
	if size > shmMaxObjSize {
		return 0, 0, fmt.Errorf("manager: %v would need %d bytes, more than %d", k, size, uint64(shmMaxObjSize))
	}
	return slots, size, nil
}

// copyTo copies m's live entries into the new, empty generation nm,
// compacting the arena and rebuilding the table.
func (m *shmMap) copyTo(nm *shmMap) error {
	if m == nil {
		return nil
	}
	var n uint64
	err := m.live(func(_, off, kl, vl uint64) error {
		noff, err := m.copyEntry(nm, off, kl, vl)
		if err != nil {
			return err
		}
		switch nm.kind {
		case kindDict, kindNamespace:
			h := shmHashKey(m.key(off, kl, vl))
			i := h & nm.mask
			for atomic.LoadUint64(nm.slot(i)) != shmRefEmpty {
				i = (i + 1) & nm.mask
			}
			atomic.StoreUint64(nm.slot(i), shmRef(noff, h))
		default: // List, Queue: in order from index 0
			atomic.StoreUint64(nm.slot(n), shmRef(noff, 0))
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	switch nm.kind {
	case kindDict, kindNamespace:
		nm.hdr.count, nm.hdr.used = n, n
	case kindList:
		atomic.StoreUint64(&nm.hdr.count, n)
	case kindQueue:
		atomic.StoreUint64(&nm.hdr.tail, n)
	}
	return nil
}

// shmRef makes the reference to the entry at off, tagged with the hash h.
func shmRef(off, h uint64) uint64 {
	return h>>shmRefOffBits<<shmRefOffBits | off>>3
}

// repair recomputes the bookkeeping (count, used, bump, garbage) from the
// table after a writer died, and reports damage it cannot repair. bump only
// moves forward (a late lock-free reader may still be reading a dead entry
// below it), except in a Queue, whose entries are read under the lock
// only: there it ends right after the last live entry.
func (m *shmMap) repair() error {
	var n, used, liveBytes uint64
	maxEnd := m.arenaOff
	var bad error
	note := func(off, kl, vl uint64) {
		n++
		liveBytes += m.entryBytes(kl, vl)
		maxEnd = max(maxEnd, off+m.entryBytes(kl, vl))
	}
	switch m.kind {
	case kindDict, kindNamespace:
		for i := uint64(0); i < m.slots; i++ {
			ref := atomic.LoadUint64(m.slot(i))
			if ref == shmRefEmpty {
				continue
			}
			used++
			if ref == shmRefTombstone {
				continue
			}
			off, kl, vl, err := m.entry(ref)
			if err != nil {
				bad = err
				continue
			}
			note(off, kl, vl)
		}
		atomic.StoreUint64(&m.hdr.count, n)
		atomic.StoreUint64(&m.hdr.used, used)
	default:
		bad = m.live(func(_, off, kl, vl uint64) error {
			note(off, kl, vl)
			return nil
		})
	}
	b := atomic.LoadUint64(&m.hdr.bump)
	switch {
	case m.kind == kindQueue && bad == nil:
		b = maxEnd // entries are read under the lock only: reuse is safe
	case b < m.arenaOff || b > m.size || b%8 != 0:
		b = m.size // unknown: let the next write build a new generation
	default:
		b = max(b, maxEnd)
	}
	atomic.StoreUint64(&m.hdr.bump, b)
	atomic.StoreUint64(&m.hdr.garbage, b-m.arenaOff-min(liveBytes, b-m.arenaOff))
	return bad
}
