package manager

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
)

// Tests of the backend's in-memory algorithms on heap memory, where the
// race detector sees every access (it does not see mapped memory), and of
// the published layout.

// heapMem returns n zeroed bytes of 8-aligned heap memory.
func heapMem(n int) []byte {
	buf := make([]byte, n+8)
	off := ctypes.AlignOffset(buf, 8)
	return buf[off : off+n]
}

// heapObj is an object whose generations live on the heap: writers hold
// mu (the directory entry's lock in shared memory) and publish a new
// generation by storing cur (the entry's gen); readers load cur.
type heapObj struct {
	kind kind
	mu   sync.Mutex
	cur  atomic.Pointer[shmMap]
	gens int
}

func newHeapObj(t testing.TB, k kind) *heapObj {
	t.Helper()
	h := &heapObj{kind: k}
	slots, size, err := shmPlan(k, 0, 0, shmGrowNeed{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := shmInitObj(heapMem(int(size)), k, 1, 1, slots)
	if err != nil {
		t.Fatal(err)
	}
	h.cur.Store(m)
	return h
}

// write is shmObject.write on the heap.
func (h *heapObj) write(fn func(m *shmMap) (shmGrowNeed, error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		m := h.cur.Load()
		need, err := fn(m)
		if err != nil || need.none() {
			return err
		}
		live, liveBytes, err := m.stats()
		if err != nil {
			return err
		}
		slots, size, err := shmPlan(h.kind, live, liveBytes, need)
		if err != nil {
			return err
		}
		nm, err := shmInitObj(heapMem(int(size)), h.kind, 1, m.gen+1, slots)
		if err != nil {
			return err
		}
		if err := m.copyTo(nm); err != nil {
			return err
		}
		h.cur.Store(nm)
		h.gens++
	}
}

// raceValue is version ver of key k's value, n >= 8 bytes: k, n and ver,
// then bytes derived from all three, so that any mix-up shows.
func raceValue(k, n int, ver uint32) []byte {
	v := make([]byte, n)
	binary.LittleEndian.PutUint16(v, uint16(k))
	binary.LittleEndian.PutUint16(v[2:], uint16(n))
	binary.LittleEndian.PutUint32(v[4:], ver)
	for i := 8; i < n; i++ {
		v[i] = byte(k*31 + int(ver)*7 + i*13)
	}
	return v
}

func checkRaceValue(k int, v []byte) error {
	if len(v) < 8 {
		return fmt.Errorf("key %d: value of %d bytes", k, len(v))
	}
	if got := int(binary.LittleEndian.Uint16(v)); got != k {
		return fmt.Errorf("key %d: value of key %d", k, got)
	}
	n := int(binary.LittleEndian.Uint16(v[2:]))
	if n != len(v) {
		return fmt.Errorf("key %d: value says %d bytes, has %d", k, n, len(v))
	}
	want := raceValue(k, n, binary.LittleEndian.Uint32(v[4:]))
	if string(want) != string(v) {
		return fmt.Errorf("key %d: torn value", k)
	}
	return nil
}

var raceSizes = []int{8, 8, 8, 16, 24, 100, 700}

// TestShmLockFreeReadsHeap runs Dict readers without the lock against a
// writer that sets, replaces in place, deletes and grows, on heap memory
// so that -race checks the publication protocol. Readers check every value
// they see for tearing.
func TestShmLockFreeReadsHeap(t *testing.T) {
	h := newHeapObj(t, kindDict)
	const keys = 300
	writes := 20000
	if testing.Short() {
		writes = 5000
	}
	seed := shmTestSeed(t)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			for n := 0; !done.Load() || n < 1000; n++ {
				k := rng.IntN(keys)
				v, ok, err := h.cur.Load().dictGet([]byte(strconv.Itoa(k)))
				if err == nil && ok {
					err = checkRaceValue(k, v)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range writes {
		k := rng.IntN(keys)
		key := []byte(strconv.Itoa(k))
		var err error
		switch rng.IntN(10) {
		case 0:
			err = h.write(func(m *shmMap) (shmGrowNeed, error) {
				_, err := m.dictDelete(key)
				return shmGrowNeed{}, err
			})
		case 1:
			err = h.write(func(m *shmMap) (shmGrowNeed, error) {
				return m.dictUpdate(key, func(old []byte, found bool) ([]byte, bool) {
					return raceValue(k, 8, uint32(i)), true
				})
			})
		default:
			v := raceValue(k, raceSizes[rng.IntN(len(raceSizes))], uint32(i))
			err = h.write(func(m *shmMap) (shmGrowNeed, error) { return m.dictSet(key, v) })
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if h.gens < 3 {
		t.Errorf("only %d new generations: growth not exercised", h.gens)
	}
	m := h.cur.Load()
	keysSeen, vals, err := m.dictItems()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.dictLen(); n != len(keysSeen) {
		t.Fatalf("count %d, %d live entries", n, len(keysSeen))
	}
	for i, k := range keysSeen {
		kn, _ := strconv.Atoi(string(k))
		if err := checkRaceValue(kn, vals[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShmListReadsHeap is the same for a List: At and Len without the lock
// against Append, Set, Pop and growth.
func TestShmListReadsHeap(t *testing.T) {
	h := newHeapObj(t, kindList)
	seed := shmTestSeed(t)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			for n := 0; !done.Load() || n < 1000; n++ {
				m := h.cur.Load()
				l, err := m.listLen()
				if err == nil && l > 0 {
					i := rng.IntN(int(l))
					var v []byte
					v, err = m.listAt(i)
					if errors.Is(err, ErrIndex) {
						continue // popped meanwhile
					}
					if err == nil {
						err = checkRaceValue(i%1000, v)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	var n int // the list's length, as the writer knows it
	for i := range 20000 {
		var err error
		switch op := rng.IntN(10); {
		case op < 6 || n == 0:
			v := raceValue(n%1000, raceSizes[rng.IntN(len(raceSizes))], uint32(i))
			err = h.write(func(m *shmMap) (shmGrowNeed, error) { return m.listAppend([][]byte{v}) })
			n++
		case op < 8:
			j := rng.IntN(n)
			v := raceValue(j%1000, raceSizes[rng.IntN(len(raceSizes))], uint32(i))
			err = h.write(func(m *shmMap) (shmGrowNeed, error) { return m.listSet(j, v) })
		default:
			err = h.write(func(m *shmMap) (shmGrowNeed, error) {
				v, err := m.listPop()
				if err == nil {
					err = checkRaceValue((n-1)%1000, v)
				}
				return shmGrowNeed{}, err
			})
			n--
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	items, err := h.cur.Load().listItems()
	if err != nil || len(items) != n {
		t.Fatalf("%d items (want %d), %v", len(items), n, err)
	}
}

// TestShmQueueHeap checks FIFO order across growth and arena restarts.
func TestShmQueueHeap(t *testing.T) {
	h := newHeapObj(t, kindQueue)
	rng := rand.New(rand.NewPCG(shmTestSeed(t), 0))
	next, want := 0, 0
	for range 30000 {
		if rng.IntN(3) != 0 || next == want {
			v := raceValue(next%1000, raceSizes[rng.IntN(len(raceSizes))], uint32(next))
			if err := h.write(func(m *shmMap) (shmGrowNeed, error) { return m.queuePut(v) }); err != nil {
				t.Fatal(err)
			}
			next++
			continue
		}
		var v []byte
		var ok bool
		err := h.write(func(m *shmMap) (shmGrowNeed, error) {
			var err error
			v, ok, err = m.queuePop()
			return shmGrowNeed{}, err
		})
		if err != nil || !ok {
			t.Fatalf("pop %d: %v %v", want, ok, err)
		}
		if err := checkRaceValue(want%1000, v); err != nil || binary.LittleEndian.Uint32(v[4:]) != uint32(want) {
			t.Fatalf("pop %d: %v (version %d)", want, err, binary.LittleEndian.Uint32(v[4:]))
		}
		want++
	}
	if n, err := h.cur.Load().queueLen(); n != next-want || err != nil {
		t.Fatalf("len %d, want %d: %v", n, next-want, err)
	}
}

// TestShmRepair checks that repair rebuilds bookkeeping a dead writer left
// stale, and leaves bump no lower than any entry.
func TestShmRepair(t *testing.T) {
	for _, k := range []kind{kindDict, kindList, kindQueue} {
		t.Run(k.String(), func(t *testing.T) {
			h := newHeapObj(t, k)
			for i := range 50 {
				v := raceValue(i, 16, 1)
				if err := h.write(func(m *shmMap) (shmGrowNeed, error) {
					switch k {
					case kindDict:
						return m.dictSet([]byte(strconv.Itoa(i)), v)
					case kindList:
						return m.listAppend([][]byte{v})
					}
					return m.queuePut(v)
				}); err != nil {
					t.Fatal(err)
				}
			}
			m := h.cur.Load()
			bump := m.hdr.bump
			m.hdr.used, m.hdr.garbage = 3, 12345
			if k == kindDict { // a List's count is its publication, not bookkeeping
				m.hdr.count, m.hdr.bump = 7, m.size+8
			}
			if err := m.repair(); err != nil {
				t.Fatal(err)
			}
			n, _, _ := m.stats()
			if n != 50 {
				t.Fatalf("%d live entries after repair", n)
			}
			if k == kindDict && (m.hdr.count != 50 || m.hdr.used != 50 || m.hdr.bump != m.size) {
				t.Fatalf("count %d used %d bump %d (size %d)", m.hdr.count, m.hdr.used, m.hdr.bump, m.size)
			}
			if k != kindDict && m.hdr.bump != bump {
				t.Fatalf("bump %d, want %d", m.hdr.bump, bump)
			}
			if m.hdr.garbage != 0 && k != kindDict {
				t.Fatalf("garbage %d", m.hdr.garbage)
			}
		})
	}
}

// TestShmLayout pins the published layout (shm_layout.go).
func TestShmLayout(t *testing.T) {
	check := func(typ reflect.Type, size uintptr, offsets map[string]uintptr) {
		t.Helper()
		if typ.Size() != size {
			t.Errorf("%v: %d bytes, want %d", typ, typ.Size(), size)
		}
		if typ.Align() != 8 {
			t.Errorf("%v: alignment %d, want 8", typ, typ.Align())
		}
		for name, off := range offsets {
			f, ok := typ.FieldByName(name)
			if !ok || f.Offset != off {
				t.Errorf("%v.%s at %d, want %d", typ, name, f.Offset, off)
			}
		}
	}
	check(reflect.TypeFor[shmDirHeader](), shmDirHeaderSize, map[string]uintptr{
		"magic": 0, "version": 4, "pageSize": 8, "pages": 16, "page": 20, "creator": 24, "destroyed": 28, "mu": 32,
	})
	check(reflect.TypeFor[shmDirEntry](), shmDirEntrySize, map[string]uintptr{
		"state": 0, "kind": 4, "gen": 8, "nameLen": 16, "name": 24, "mu": 192, "cond": 208, "lock": 224, "sem": 240, "event": 248,
	})
	check(reflect.TypeFor[shmObjHeader](), shmObjHeaderSize, map[string]uintptr{
		"magic": 0, "version": 4, "kind": 8, "id": 16, "gen": 24, "size": 32, "slots": 40, "arenaOff": 48,
		"bump": 56, "count": 64, "used": 72, "head": 80, "tail": 88, "garbage": 96,
	})
	if kindDict != 1 || kindList != 2 || kindNamespace != 3 || kindQueue != 4 || kindLock != 5 || kindEvent != 6 || kindSemaphore != 7 {
		t.Error("kind numbers changed: they are part of the layout")
	}
	// The hash is part of the layout: pin a few values (checked against an
	// independent implementation of the documented algorithm).
	for key, want := range map[string]uint64{"": 0xf52a15e9a9b5e89b, "k42": 0x26dc2b505905fb39, "a longer key of 3 words": 0x11d7ec2cec30fd75} {
		if got := shmHashKey([]byte(key)); got != want {
			t.Errorf("shmHashKey(%q) = %#x, want %#x", key, got, want)
		}
	}
}

// shmTestSeed is a random seed, logged, or SHMKIT_SEED's.
func shmTestSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SHMKIT_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (rerun with SHMKIT_SEED=%d)", seed, seed)
	return seed
}
