package manager

import (
	"encoding/binary"
	"errors"
	"strconv"
	"testing"
)

// Shared memory is hostile input: whatever bytes an object segment or a
// directory page holds, attaching and every read and write path return
// errors (ErrCorrupt, or ErrIndex for a List), never panic or read out of
// bounds.
//
//	go test -run '^$' -fuzz FuzzShmObject -fuzztime 1m ./manager/
//	go test -run '^$' -fuzz FuzzShmDirectory -fuzztime 1m ./manager/

// fuzzImage copies data into 8-aligned heap memory, cut to a multiple of 8.
func fuzzImage(data []byte) []byte {
	mem := heapMem(len(data) &^ 7)
	copy(mem, data)
	return mem
}

// objectSeeds are valid images of each kind, after some use.
func objectSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, k := range []kind{kindDict, kindList, kindQueue, kindNamespace} {
		h := newHeapObj(t, k)
		for i := range 40 {
			v := raceValue(i, raceSizes[i%len(raceSizes)], uint32(i))
			err := h.write(func(m *shmMap) (shmGrowNeed, error) {
				switch k {
				case kindList:
					return m.listAppend([][]byte{v})
				case kindQueue:
					return m.queuePut(v)
				}
				if i%5 == 4 {
					_, err := m.dictDelete([]byte(strconv.Itoa(i - 1)))
					return shmGrowNeed{}, err
				}
				return m.dictSet([]byte(strconv.Itoa(i)), v)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		m := h.cur.Load()
		// Keep the header, the table and the used arena: the fuzzer
		// mutates a short image better than 64 KiB of zeros.
		n := min(len(m.mem), int(m.hdr.bump)+64)
		img := append([]byte(nil), m.mem[:n]...)
		binary.NativeEndian.PutUint64(img[32:], uint64(len(img)&^7)) // size
		out = append(out, img)
	}
	return out
}

func FuzzShmObject(f *testing.F) {
	for _, img := range objectSeeds(f) {
		f.Add(img, []byte("3"), uint8(0))
	}
	f.Add(make([]byte, 256), []byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, data, key []byte, op uint8) {
		mem := fuzzImage(data)
		if len(mem) < shmObjHeaderSize {
			if _, err := shmAttachObj(mem, kindDict, 1, 1); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("short image: %v", err)
			}
			return
		}
		// Take id, kind and generation from the image, so that its other
		// fields get checked too.
		k := kind(binary.NativeEndian.Uint32(mem[8:]))
		id, gen := binary.NativeEndian.Uint64(mem[16:]), binary.NativeEndian.Uint64(mem[24:])
		m, err := shmAttachObj(mem, k, id, gen)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("attach: %v", err)
			}
			return
		}
		ok := func(err error) {
			t.Helper()
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrIndex) {
				t.Fatalf("%v: %v", k, err)
			}
		}
		val := append(key, key...)
		switch k {
		case kindDict, kindNamespace:
			_, _, err := m.dictGet(key)
			ok(err)
			_, _, err = m.dictItems()
			ok(err)
			_, err = m.dictLen()
			ok(err)
			switch op % 4 {
			case 0:
				_, err = m.dictSet(key, val)
			case 1:
				_, err = m.dictDelete(key)
			case 2:
				_, err = m.dictUpdate(key, func(old []byte, found bool) ([]byte, bool) { return old, found })
			case 3:
				_, err = m.dictSet(key, key[:min(len(key), 8)])
			}
			ok(err)
		case kindList:
			_, err := m.listLen()
			ok(err)
			for _, i := range []int{0, 1, -1, int(op), -int(op)} {
				_, err = m.listAt(i)
				ok(err)
			}
			_, err = m.listItems()
			ok(err)
			switch op % 3 {
			case 0:
				_, err = m.listAppend([][]byte{key, val})
			case 1:
				_, err = m.listSet(int(op)/3, val)
			case 2:
				_, err = m.listPop()
			}
			ok(err)
		case kindQueue:
			_, err := m.queueLen()
			ok(err)
			if op%2 == 0 {
				_, err = m.queuePut(val)
			} else {
				_, _, err = m.queuePop()
			}
			ok(err)
		default:
			t.Fatalf("attached an object of kind %d", k)
		}
		// What a new generation would be built from.
		live, liveBytes, err := m.stats()
		ok(err)
		if err == nil {
			slots, size, err := shmPlan(k, live, liveBytes, shmGrowNeed{bytes: 64, slots: 1})
			if err == nil && size <= 1<<24 {
				nm, err := shmInitObj(heapMem(int(size)), k, id, gen+1, slots)
				if err != nil {
					t.Fatal(err)
				}
				ok(m.copyTo(nm))
			}
		}
		ok(m.repair())
	})
}

func FuzzShmDirectory(f *testing.F) {
	p, err := shmInitPage(heapMem(shmMinDirSize), 0)
	if err != nil {
		f.Fatal(err)
	}
	b := &shmBackend{name: "fuzz", perPage: len(p.entries), pages: []*shmDirPage{p}}
	b.fill(p, 0, kindDict, "d", 0)
	b.fill(p, 3, kindSemaphore, "s", 2)
	f.Add(append([]byte(nil), p.mem...), "d")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		mem := fuzzImage(data)
		p, err := shmAttachPage(mem, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("attach: %v", err)
			}
			return
		}
		b := &shmBackend{name: "fuzz", perPage: len(p.entries), pages: []*shmDirPage{p}}
		n, err := b.pageCount()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("pages: %v", err)
			}
			return
		}
		if n > 1 {
			return // further pages would be opened by name
		}
		q, i, err := b.lookup(name)
		if err != nil {
			t.Fatalf("lookup: %v", err)
		}
		if q != nil {
			if o := b.handle(q, i); o.name != name {
				t.Fatalf("lookup(%q) found %q", name, o.name)
			}
		}
	})
}
