package manager

import (
	"fmt"
	"sync/atomic"
)

// List and Queue storage (layout in shm_layout.go). listLen and listAt take
// no lock; every other function here is called with the object's lock
// held.

// listLen is the List's length, its publication word.
func (m *shmMap) listLen() (uint64, error) {
	if m == nil {
		return 0, nil
	}
	n := atomic.LoadUint64(&m.hdr.count)
	if n > m.slots {
		return 0, shmCorruptf("list of %d elements in a table of %d", n, m.slots)
	}
	return n, nil
}

// shmListIndex resolves a Python-style index (negative from the end) against
// the length n.
func shmListIndex(i int, n uint64) (uint64, error) {
	j := int64(i)
	if j < 0 {
		j += int64(n)
	}
	if j < 0 || uint64(j) >= n {
		return 0, fmt.Errorf("%w: %d of a list of %d", ErrIndex, i, n)
	}
	return uint64(j), nil
}

// listAt returns a copy of element i.
func (m *shmMap) listAt(i int) ([]byte, error) {
	n, err := m.listLen()
	if err != nil {
		return nil, err
	}
	j, err := shmListIndex(i, n)
	if err != nil {
		return nil, err
	}
	off, _, vl, err := m.entry(atomic.LoadUint64(m.slot(j)))
	if err != nil {
		return nil, err
	}
	return m.value(off, vl), nil
}

// listAppend appends vals as a group: the entries and their references
// are written past the end, then one store of the length publishes them.
func (m *shmMap) listAppend(vals [][]byte) (shmGrowNeed, error) {
	var need uint64
	for _, v := range vals {
		if err := shmCheckEntry(nil, v); err != nil {
			return shmGrowNeed{}, err
		}
		need += shmEntrySize(0, len(v))
	}
	k := uint64(len(vals))
	if m == nil {
		return shmGrowNeed{bytes: need, slots: k}, nil
	}
	n, err := m.listLen()
	if err != nil {
		return shmGrowNeed{}, err
	}
	if k > m.slots-n {
		return shmGrowNeed{bytes: need, slots: k}, nil
	}
	off, ok, err := m.alloc(need)
	if err != nil {
		return shmGrowNeed{}, err
	}
	if !ok {
		return shmGrowNeed{bytes: need, slots: k}, nil
	}
	for j, v := range vals {
		m.put(off, nil, v)
		atomic.StoreUint64(m.slot(n+uint64(j)), shmRef(off, 0))
		off += shmEntrySize(0, len(v))
	}
	shmHook("list-append-written")
	atomic.StoreUint64(&m.hdr.count, n+k) // publishes
	return shmGrowNeed{}, nil
}

// replaceAt stores val in table slot i, whose entry is ref: in place when
// it is a small value of the same size, else as a new entry.
func (m *shmMap) replaceAt(i, ref uint64, val []byte) (shmGrowNeed, error) {
	if err := shmCheckEntry(nil, val); err != nil {
		return shmGrowNeed{}, err
	}
	off, kl, vl, err := m.entry(ref)
	if err != nil {
		return shmGrowNeed{}, err
	}
	if vl == uint64(len(val)) && vl > 0 && vl <= 8 {
		m.storeSmall(off, val)
		return shmGrowNeed{}, nil
	}
	need := shmEntrySize(0, len(val))
	noff, ok, err := m.alloc(need)
	if err != nil {
		return shmGrowNeed{}, err
	}
	if !ok {
		return shmGrowNeed{bytes: need}, nil
	}
	m.put(noff, nil, val)
	atomic.StoreUint64(m.slot(i), shmRef(noff, 0)) // publishes
	m.addGarbage(m.entryBytes(kl, vl))
	return shmGrowNeed{}, nil
}

// listSet replaces element i.
func (m *shmMap) listSet(i int, val []byte) (shmGrowNeed, error) {
	n, err := m.listLen()
	if err != nil {
		return shmGrowNeed{}, err
	}
	j, err := shmListIndex(i, n)
	if err != nil {
		return shmGrowNeed{}, err
	}
	return m.replaceAt(j, atomic.LoadUint64(m.slot(j)), val)
}

// listPop removes and returns the last element.
func (m *shmMap) listPop() ([]byte, error) {
	n, err := m.listLen()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: pop from an empty list", ErrIndex)
	}
	off, kl, vl, err := m.entry(atomic.LoadUint64(m.slot(n - 1)))
	if err != nil {
		return nil, err
	}
	v := m.value(off, vl)
	atomic.StoreUint64(&m.hdr.count, n-1) // publishes
	m.addGarbage(m.entryBytes(kl, vl))
	return v, nil
}

// listItems returns copies of the elements in order.
func (m *shmMap) listItems() ([][]byte, error) {
	if m == nil {
		return nil, nil
	}
	var out [][]byte
	err := m.live(func(_, off, _, vl uint64) error {
		out = append(out, m.value(off, vl))
		return nil
	})
	return out, err
}

// queueBounds returns the Queue's head and tail positions, validated.
func (m *shmMap) queueBounds() (head, tail uint64, err error) {
	head, tail = atomic.LoadUint64(&m.hdr.head), atomic.LoadUint64(&m.hdr.tail)
	if tail-head > m.slots {
		return 0, 0, shmCorruptf("queue positions %d..%d in a ring of %d", head, tail, m.slots)
	}
	return head, tail, nil
}

// queueLen is the number of queued items.
func (m *shmMap) queueLen() (int, error) {
	if m == nil {
		return 0, nil
	}
	head, tail, err := m.queueBounds()
	return int(tail - head), err
}

// queuePut appends val: entry and reference first, then one store of the
// tail publishes them.
func (m *shmMap) queuePut(val []byte) (shmGrowNeed, error) {
	if err := shmCheckEntry(nil, val); err != nil {
		return shmGrowNeed{}, err
	}
	need := shmEntrySize(0, len(val))
	if m == nil {
		return shmGrowNeed{bytes: need, slots: 1}, nil
	}
	head, tail, err := m.queueBounds()
	if err != nil {
		return shmGrowNeed{}, err
	}
	if tail-head == m.slots {
		return shmGrowNeed{bytes: need, slots: 1}, nil
	}
	off, ok, err := m.alloc(need)
	if err != nil {
		return shmGrowNeed{}, err
	}
	if !ok {
		return shmGrowNeed{bytes: need, slots: 1}, nil
	}
	m.put(off, nil, val)
	atomic.StoreUint64(m.slot(tail&m.mask), shmRef(off, 0))
	shmHook("queue-put-written")
	atomic.StoreUint64(&m.hdr.tail, tail+1) // publishes
	return shmGrowNeed{}, nil
}

// queuePop removes and returns the head item; ok is false when the queue
// is empty. Queue entries are read only under the lock, so once the queue
// is empty the arena starts over.
func (m *shmMap) queuePop() (val []byte, ok bool, err error) {
	if m == nil {
		return nil, false, nil
	}
	head, tail, err := m.queueBounds()
	if err != nil || head == tail {
		return nil, false, err
	}
	off, kl, vl, err := m.entry(atomic.LoadUint64(m.slot(head & m.mask)))
	if err != nil {
		return nil, false, err
	}
	val = m.value(off, vl)
	atomic.StoreUint64(&m.hdr.head, head+1) // publishes
	if head+1 == tail {
		atomic.StoreUint64(&m.hdr.bump, m.arenaOff)
		atomic.StoreUint64(&m.hdr.garbage, 0)
	} else {
		m.addGarbage(m.entryBytes(kl, vl))
	}
	return val, true, nil
}
