package manager

import (
	"bytes"
	"sync/atomic"
)

// The Dict (and Namespace) table: open addressing, linear probing, 24-bit
// hash tags in the references (layout in shm_layout.go). Lookups take no
// lock; every other function here is called with the object's lock held.

// shmProbe is where a key is, or where it would go.
type shmProbe struct {
	h     uint64
	found bool
	slot  uint64 // the key's slot, when found
	ref   uint64 // its reference, when found
	// ins is the slot for a new key: the first tombstone on the key's path
	// or the empty slot that ends it; m.slots when the table has no room.
	ins      uint64
	insEmpty bool // ins is an empty slot (inserting there adds to used)
}

// probe looks key up. It reads each slot once, atomically, and validates
// every reference it follows.
func (m *shmMap) probe(key []byte) (shmProbe, error) {
	p := shmProbe{h: shmHashKey(key), ins: m.slots}
	tag := p.h >> shmRefOffBits
	i := p.h & m.mask
	for range m.slots {
		ref := atomic.LoadUint64(m.slot(i))
		switch {
		case ref == shmRefEmpty:
			if p.ins == m.slots {
				p.ins, p.insEmpty = i, true
			}
			return p, nil
		case ref == shmRefTombstone:
			if p.ins == m.slots {
				p.ins = i
			}
		case ref>>shmRefOffBits == tag:
			off, kl, vl, err := m.entry(ref)
			if err != nil {
				return p, err
			}
			if bytes.Equal(m.key(off, kl, vl), key) {
				p.found, p.slot, p.ref = true, i, ref
				return p, nil
			}
		}
		i = (i + 1) & m.mask
	}
	return p, nil
}

// dictGet returns a copy of key's value. It takes no lock: the reference is
// loaded atomically and the entry it names is never rewritten (but for the
// atomically stored small value word).
func (m *shmMap) dictGet(key []byte) ([]byte, bool, error) {
	p, v, err := m.dictFind(key)
	return v, p.found, err
}

// dictFind is dictGet that also returns where the key was found.
func (m *shmMap) dictFind(key []byte) (shmProbe, []byte, error) {
	if m == nil {
		return shmProbe{}, nil, nil
	}
	p, err := m.probe(key)
	if err != nil || !p.found {
		return p, nil, err
	}
	off, _, vl, err := m.entry(p.ref)
	if err != nil {
		return p, nil, err
	}
	return p, m.value(off, vl), nil
}

// dictStore sets key (probed as p) to val. It returns a shmGrowNeed when the
// table or the arena is full; the caller builds a new generation and
// calls again.
func (m *shmMap) dictStore(p shmProbe, key, val []byte) (shmGrowNeed, error) {
	if err := shmCheckEntry(key, val); err != nil {
		return shmGrowNeed{}, err
	}
	need := shmEntrySize(len(key), len(val))
	if p.found {
		off, kl, vl, err := m.entry(p.ref)
		if err != nil {
			return shmGrowNeed{}, err
		}
		if vl == uint64(len(val)) && vl > 0 && vl <= 8 {
			m.storeSmall(off, val) // publishes
			return shmGrowNeed{}, nil
		}
		noff, ok, err := m.alloc(need)
		if err != nil {
			return shmGrowNeed{}, err
		}
		if !ok {
			return shmGrowNeed{bytes: need}, nil
		}
		m.put(noff, key, val)
		shmHook("dict-replace-written")
		atomic.StoreUint64(m.slot(p.slot), shmRef(noff, p.h)) // publishes
		m.addGarbage(m.entryBytes(kl, vl))
		return shmGrowNeed{}, nil
	}
	used := atomic.LoadUint64(&m.hdr.used)
	if p.ins == m.slots || (p.insEmpty && used+1 > m.slots/4*3) {
		return shmGrowNeed{bytes: need, slots: 1}, nil
	}
	noff, ok, err := m.alloc(need)
	if err != nil {
		return shmGrowNeed{}, err
	}
	if !ok {
		return shmGrowNeed{bytes: need, slots: 1}, nil
	}
	m.put(noff, key, val)
	shmHook("dict-insert-written")
	atomic.StoreUint64(m.slot(p.ins), shmRef(noff, p.h)) // publishes
	atomic.StoreUint64(&m.hdr.count, atomic.LoadUint64(&m.hdr.count)+1)
	if p.insEmpty {
		atomic.StoreUint64(&m.hdr.used, used+1)
	}
	return shmGrowNeed{}, nil
}

// dictSet sets key to val.
func (m *shmMap) dictSet(key, val []byte) (shmGrowNeed, error) {
	if m == nil {
		return shmGrowNeed{bytes: shmEntrySize(len(key), len(val)), slots: 1}, shmCheckEntry(key, val)
	}
	p, err := m.probe(key)
	if err != nil {
		return shmGrowNeed{}, err
	}
	return m.dictStore(p, key, val)
}

// dictRemove deletes the key found by p. A slot followed by an empty one
// ends every probe path through it, so it can become empty itself; other
// slots become tombstones, which lookups step over.
func (m *shmMap) dictRemove(p shmProbe) error {
	_, kl, vl, err := m.entry(p.ref)
	if err != nil {
		return err
	}
	mark := uint64(shmRefTombstone)
	if atomic.LoadUint64(m.slot((p.slot+1)&m.mask)) == shmRefEmpty {
		mark = shmRefEmpty
	}
	atomic.StoreUint64(m.slot(p.slot), mark) // publishes
	atomic.StoreUint64(&m.hdr.count, atomic.LoadUint64(&m.hdr.count)-1)
	if mark == shmRefEmpty {
		atomic.StoreUint64(&m.hdr.used, atomic.LoadUint64(&m.hdr.used)-1)
	}
	m.addGarbage(m.entryBytes(kl, vl))
	return nil
}

// dictDelete deletes key and reports whether it was present.
func (m *shmMap) dictDelete(key []byte) (bool, error) {
	if m == nil {
		return false, nil
	}
	p, err := m.probe(key)
	if err != nil || !p.found {
		return false, err
	}
	return true, m.dictRemove(p)
}

// dictUpdate replaces key's value with fn's result, or deletes it when fn
// says not to keep it.
func (m *shmMap) dictUpdate(key []byte, fn func(old []byte, found bool) ([]byte, bool)) (shmGrowNeed, error) {
	return m.dictUpdateIf(key, nil, shmProbe{}, nil, nil, false, nil, fn)
}

// dictUpdateIf applies an update computed without the lock from old, the
// value that dictFind found in hintMap as hint: if key's value is still
// old (or still absent), it stores val (or deletes the key when !keep);
// otherwise it sets *missed and calls fn on the current value, under the
// lock, and applies its result, as it does when missed is nil (no update
// was computed). When the key's slot in m still holds the reference found,
// the hint saves probing again.
func (m *shmMap) dictUpdateIf(key []byte, hintMap *shmMap, hint shmProbe, old, val []byte, keep bool, missed *bool, fn func(old []byte, found bool) ([]byte, bool)) (shmGrowNeed, error) {
	var p shmProbe
	found := hint.found
	switch {
	case m == nil:
	case found && hintMap == m && atomic.LoadUint64(m.slot(hint.slot)) == hint.ref:
		p = hint
	default:
		var err error
		if p, err = m.probe(key); err != nil {
			return shmGrowNeed{}, err
		}
	}
	if same, err := m.holds(p, old, found); err != nil {
		return shmGrowNeed{}, err
	} else if missed == nil || !same {
		if missed != nil {
			*missed = true
		}
		old = nil
		if p.found {
			off, _, vl, err := m.entry(p.ref)
			if err != nil {
				return shmGrowNeed{}, err
			}
			old = m.value(off, vl)
		}
		val, keep = fn(old, p.found)
	}
	return m.dictApply(p, key, val, keep)
}

// dictApply stores val for key, probed as p, or deletes key when !keep. It
// returns a shmGrowNeed when the object must grow first (m nil: it has no
// generation yet).
func (m *shmMap) dictApply(p shmProbe, key, val []byte, keep bool) (shmGrowNeed, error) {
	switch {
	case !keep && p.found:
		return shmGrowNeed{}, m.dictRemove(p)
	case !keep:
		return shmGrowNeed{}, nil
	case m == nil:
		return shmGrowNeed{bytes: shmEntrySize(len(key), len(val)), slots: 1}, shmCheckEntry(key, val)
	}
	return m.dictStore(p, key, val)
}

// holds reports whether the key probed as p has the value old (found), or
// is absent (!found), without copying the value.
func (m *shmMap) holds(p shmProbe, old []byte, found bool) (bool, error) {
	if p.found != found {
		return false, nil
	}
	if !found {
		return true, nil
	}
	off, _, vl, err := m.entry(p.ref)
	if err != nil || vl != uint64(len(old)) {
		return false, err
	}
	vo := off + shmEntryHeader
	if vl > 0 && vl <= 8 {
		return atomic.LoadUint64(&m.words[vo/8]) == shmPackSmall(old), nil
	}
	return bytes.Equal(m.mem[vo:vo+vl], old), nil
}

// dictLen is the number of keys.
func (m *shmMap) dictLen() (int, error) {
	if m == nil {
		return 0, nil
	}
	n := atomic.LoadUint64(&m.hdr.count)
	if n > m.slots {
		return 0, shmCorruptf("%d keys in a table of %d slots", n, m.slots)
	}
	return int(n), nil
}

// dictItems returns copies of every key and value.
func (m *shmMap) dictItems() (keys, vals [][]byte, err error) {
	if m == nil {
		return nil, nil, nil
	}
	err = m.live(func(_, off, kl, vl uint64) error {
		keys = append(keys, append([]byte(nil), m.key(off, kl, vl)...))
		vals = append(vals, m.value(off, vl))
		return nil
	})
	return keys, vals, err
}
