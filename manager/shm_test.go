package manager_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/shm"
)

// Tests of the shared-memory backend beyond the conformance suite: crashes
// at random and at chosen points, growth under concurrent readers in
// another process, the create/attach race, Destroy and Close, corrupt
// memory.

func init() {
	roles["shm-writer"] = shmWriterRole
	roles["shm-grow-reader"] = shmGrowReaderRole
	roles["shm-open-race"] = shmOpenRaceRole
	roles["shm-lock-holder"] = shmLockHolderRole
	roles["shm-exit"] = func() int { return 0 }
}

const shmChildTimeout = 2 * time.Minute

// shmManager opens a fresh shm manager that the test destroys at its end.
func shmManager(t testing.TB, opts *manager.Options) (string, *manager.Manager) {
	t.Helper()
	url := "shm:" + proctest.Name(t)
	m, err := manager.Open(ctxT(t), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: a test that failed holding a lock must not hang here.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Destroy(ctx); err != nil && !errors.Is(err, manager.ErrClosed) {
			t.Errorf("Destroy: %v", err)
		}
	})
	return url, m
}

func shmMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// shmSeed is a random seed, logged, or SHMKIT_SEED's.
func shmSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SHMKIT_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (rerun with SHMKIT_SEED=%d)", seed, seed)
	return seed
}

// sealed is a value that carries its key, its version and a checksum:
// [k uint32][ver uint64][payload][crc32 of what precedes].
func sealed(k int, ver uint64, n int) []byte {
	v := make([]byte, 12, 12+n+4)
	binary.LittleEndian.PutUint32(v, uint32(k))
	binary.LittleEndian.PutUint64(v[4:], ver)
	for i := range n {
		v = append(v, byte(ver)+byte(i))
	}
	return binary.LittleEndian.AppendUint32(v, crc32.ChecksumIEEE(v))
}

// checkSealed returns the version of v, a sealed value of key k.
func checkSealed(k int, v []byte) (uint64, error) {
	if len(v) < 16 {
		return 0, fmt.Errorf("key %d: value of %d bytes", k, len(v))
	}
	n := len(v) - 4
	if crc32.ChecksumIEEE(v[:n]) != binary.LittleEndian.Uint32(v[n:]) {
		return 0, fmt.Errorf("key %d: bad checksum (torn value)", k)
	}
	if got := int(binary.LittleEndian.Uint32(v)); got != k {
		return 0, fmt.Errorf("key %d: value of key %d", k, got)
	}
	return binary.LittleEndian.Uint64(v[4:]), nil
}

// shmRec is a raw (fixed-size, pointer-free) value of more than 8 bytes:
// stored as a new entry and a swung reference on every Set.
type shmRec struct {
	K, Ver uint64
	Pad    [5]uint64
	Sum    uint64
}

func makeRec(k int, ver uint64) shmRec {
	r := shmRec{K: uint64(k), Ver: ver}
	for i := range r.Pad {
		r.Pad[i] = ver * uint64(i+3)
	}
	r.Sum = r.sum()
	return r
}

func (r shmRec) sum() uint64 {
	s := r.K*0x9E3779B97F4A7C15 ^ r.Ver
	for _, p := range r.Pad {
		s = s*31 + p
	}
	return s
}

// shmObjects are the objects of the crash workload.
type shmObjects struct {
	vals   *manager.Dict[string, []byte] // codec values of varied size
	recs   *manager.Dict[int64, shmRec]  // raw 64-byte values
	counts *manager.Dict[int64, int64]   // raw 8-byte values: in place
	log    *manager.List[[]byte]
	q      *manager.Queue[[]byte]
	ready  *manager.Event
}

func openShmObjects(ctx context.Context, m *manager.Manager) (*shmObjects, error) {
	var o shmObjects
	var err error
	if o.vals, err = manager.OpenDict[string, []byte](ctx, m, "vals"); err != nil {
		return nil, err
	}
	if o.recs, err = manager.OpenDict[int64, shmRec](ctx, m, "recs"); err != nil {
		return nil, err
	}
	if o.counts, err = manager.OpenDict[int64, int64](ctx, m, "counts"); err != nil {
		return nil, err
	}
	if o.log, err = manager.OpenList[[]byte](ctx, m, "log"); err != nil {
		return nil, err
	}
	if o.q, err = manager.OpenQueue[[]byte](ctx, m, "q"); err != nil {
		return nil, err
	}
	if o.ready, err = manager.OpenEvent(ctx, m, "ready"); err != nil {
		return nil, err
	}
	return &o, nil
}

// shmWriterRole: url, seed, point, count. Mutates every kind of object
// forever, growing them now and then, until killed: by the parent, or by
// itself at the count'th time it reaches the hook point ("-": none).
func shmWriterRole() int {
	a := proctest.Args()
	seed, _ := strconv.ParseUint(a[1], 10, 64)
	if point := a[2]; point != "-" {
		count, _ := strconv.Atoi(a[3])
		var mu sync.Mutex
		n := 0
		manager.SetShmHook(func(p string) {
			mu.Lock()
			defer mu.Unlock()
			if p == point {
				if n++; n == count {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
					time.Sleep(time.Hour)
				}
			}
		})
	}
	ctx := context.Background()
	m, err := manager.Open(ctx, a[0], nil)
	if err != nil {
		return childFail(err)
	}
	o, err := openShmObjects(ctx, m)
	if err != nil {
		return childFail(err)
	}
	if err := o.ready.Set(ctx); err != nil {
		return childFail(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	base := seed % 1e6 * 1e9 // versions increase across rounds
	for i := uint64(1); ; i++ {
		k := rng.IntN(64)
		size := rng.IntN(40)
		if rng.IntN(30) == 0 {
			size = rng.IntN(16 << 10) // big: the arena fills, generations grow
		}
		ver := base + i
		switch op := rng.IntN(20); {
		case op < 7:
			err = o.vals.Set(ctx, "k"+strconv.Itoa(k), sealed(k, ver, size))
		case op < 9:
			err = o.recs.Set(ctx, int64(k), makeRec(k, ver))
		case op < 12:
			err = o.counts.Update(ctx, int64(k%8), func(old int64, _ bool) (int64, bool) { return old + 1, true })
		case op < 14:
			if err = o.log.Append(ctx, sealed(7777, ver, size)); err == nil && rng.IntN(20) == 0 {
				for n, _ := o.log.Len(ctx); n > 100 && err == nil; n-- {
					_, err = o.log.Pop(ctx)
				}
			}
		case op < 16:
			if err = o.q.Put(ctx, sealed(8888, ver, size)); err == nil {
				if n, _ := o.q.Len(ctx); n > 50 {
					_, err = o.q.Get(ctx)
				}
			}
		case op < 18:
			_, err = o.vals.Delete(ctx, "k"+strconv.Itoa(k))
		case op == 18:
			if rng.IntN(40) == 0 {
				err = o.vals.Clear(ctx)
			}
		default:
			if rng.IntN(10) == 0 { // directory writes
				_, err = manager.OpenDict[int64, int64](ctx, m, "x"+strconv.Itoa(rng.IntN(60)))
			}
		}
		if err != nil {
			return childFail(err)
		}
	}
}

// shmVerifier checks the crash workload's objects after a kill.
type shmVerifier struct {
	t      *testing.T
	name   string // the manager's segment name
	m      *manager.Manager
	o      *shmObjects
	counts map[int64]int64 // committed increments never go back
	round  int
}

func (v *shmVerifier) check(ctx context.Context) {
	t := v.t
	t.Helper()
	vals, err := v.o.vals.Items(ctx)
	shmMust(t, err)
	for key, val := range vals {
		k, err := strconv.Atoi(strings.TrimPrefix(key, "k"))
		if key == "parent" {
			k, err = 9999, nil
		}
		if err != nil {
			t.Fatalf("round %d: key %q", v.round, key)
		}
		if _, err := checkSealed(k, val); err != nil {
			t.Fatalf("round %d: vals: %v", v.round, err)
		}
	}
	recs, err := v.o.recs.Items(ctx)
	shmMust(t, err)
	for k, r := range recs {
		if r.K != uint64(k) || r.Sum != r.sum() {
			t.Fatalf("round %d: recs[%d] = %+v: torn or misplaced", v.round, k, r)
		}
	}
	counts, err := v.o.counts.Items(ctx)
	shmMust(t, err)
	for k, n := range counts {
		if n < v.counts[k] {
			t.Fatalf("round %d: counts[%d] went back from %d to %d", v.round, k, v.counts[k], n)
		}
		v.counts[k] = n
	}
	log, err := v.o.log.Items(ctx)
	shmMust(t, err)
	for i, val := range log {
		if _, err := checkSealed(7777, val); err != nil {
			t.Fatalf("round %d: log[%d]: %v", v.round, i, err)
		}
	}
	// Drain the queue: every item intact, in the order put.
	n, err := v.o.q.Len(ctx)
	shmMust(t, err)
	var last uint64
	for i := range n {
		val, err := v.o.q.Get(ctx)
		shmMust(t, err)
		ver, err := checkSealed(8888, val)
		if err != nil || ver <= last {
			t.Fatalf("round %d: queue item %d: version %d after %d, %v", v.round, i, ver, last, err)
		}
		last = ver
	}
	// The survivors keep writing, through whatever lock the child held.
	shmMust(t, v.o.vals.Set(ctx, "parent", sealed(9999, uint64(v.round), 100)))
	shmMust(t, v.o.recs.Set(ctx, 1000, makeRec(1000, uint64(v.round))))
	shmMust(t, v.o.counts.Update(ctx, 100, func(old int64, _ bool) (int64, bool) { return old + 1, true }))
	shmMust(t, v.o.log.Append(ctx, sealed(7777, uint64(v.round), 10)))
	shmMust(t, v.o.q.Put(ctx, sealed(8888, 1, 3)))
	if _, err := v.o.q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = manager.OpenNamespace(ctx, v.m, "p"+strconv.Itoa(v.round)) // the directory lock
	shmMust(t, err)
	shmCheckSegments(t, v.name)
}

// shmGenerations lists the generations that have a segment, by object id,
// of manager name.
func shmGenerations(t testing.TB, name string) map[string][]string {
	t.Helper()
	ents, err := os.ReadDir(shm.Dir)
	shmMust(t, err)
	gens := map[string][]string{}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), name+".")
		if !ok || strings.HasPrefix(rest, "d") {
			continue
		}
		id, gen, _ := strings.Cut(rest, ".")
		gens[id] = append(gens[id], gen)
	}
	return gens
}

// shmCheckSegments fails unless every object of manager name has exactly
// one generation's segment: nothing a crash left behind survives the next
// writer's recovery.
func shmCheckSegments(t testing.TB, name string) {
	t.Helper()
	for id, g := range shmGenerations(t, name) {
		if len(g) != 1 {
			t.Fatalf("object %s has segments of generations %v", id, g)
		}
	}
}

func newShmVerifier(t *testing.T, opts *manager.Options) (*shmVerifier, string) {
	url, m := shmManager(t, opts)
	ctx := ctxT(t)
	o, err := openShmObjects(ctx, m)
	shmMust(t, err)
	return &shmVerifier{t: t, name: strings.TrimPrefix(url, "shm:"), m: m, o: o, counts: map[int64]int64{}}, url
}

// TestShmKillMidWrite kills a writer at random moments, many rounds; after
// each, every value must be intact (old or new, never torn), nothing
// committed lost, and the survivors must keep writing.
func TestShmKillMidWrite(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 8
	}
	seed := shmSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	v, url := newShmVerifier(t, nil)
	ctx := ctxT(t)
	before := manager.ShmRecoveries()
	midGrowth := 0
	for round := range rounds {
		v.round = round
		shmMust(t, v.o.ready.Clear(ctx))
		c := proctest.Start(t, "shm-writer", []string{url, strconv.FormatUint(seed+uint64(round), 10), "-", "0"}, nil)
		wctx, cancel := context.WithTimeout(ctx, shmChildTimeout)
		err := v.o.ready.Wait(wctx)
		cancel()
		shmMust(t, err)
		time.Sleep(time.Duration(rng.IntN(25000)) * time.Microsecond)
		c.Kill()
		if out := c.Output(); out != "" {
			t.Fatalf("round %d: writer said: %s", round, out)
		}
		for _, g := range shmGenerations(t, v.name) {
			if len(g) > 1 {
				midGrowth++ // died building or retiring a generation
			}
		}
		v.check(ctx)
	}
	t.Logf("%d rounds: %d repairs after a writer died holding a lock, %d of them in the middle of a new generation",
		rounds, manager.ShmRecoveries()-before, midGrowth)
}

// TestShmCrashPoints kills the writer at chosen points inside its
// mutations (with the object's or the directory's lock held): between
// writing an entry and publishing it, between building a generation and
// publishing it, between publishing it and removing the old one, between
// building a directory page and publishing it.
func TestShmCrashPoints(t *testing.T) {
	for _, p := range []struct {
		point string
		count int
	}{
		{"dict-insert-written", 20},
		{"dict-replace-written", 5},
		{"list-append-written", 10},
		{"queue-put-written", 10},
		{"grow-built", 8},
		{"grow-published", 8},
		{"dir-entry-written", 1},
		{"dir-page-built", 1},
	} {
		t.Run(p.point, func(t *testing.T) {
			// Directory pages of 15 entries: the writer adds pages.
			v, url := newShmVerifier(t, &manager.Options{Size: 4096})
			ctx := ctxT(t)
			before := manager.ShmRecoveries()
			for round := range 2 { // the second round starts from a repaired state
				v.round = round
				seed := strconv.Itoa(round + 1)
				c := proctest.Start(t, "shm-writer", []string{url, seed, p.point, strconv.Itoa(p.count)}, nil)
				err := c.Wait(t, shmChildTimeout)
				var ee interface{ Sys() any }
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("writer did not die at %s: %v\n%s", p.point, err, c.Output())
				}
				v.check(ctx)
			}
			if n := manager.ShmRecoveries() - before; n < 2 {
				t.Fatalf("%d recoveries after 2 deaths holding a lock", n)
			}
		})
	}
}

// shmBigValue is key k's value in the growth test: n bytes, all derived
// from k.
func shmBigValue(k, n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(k*7 + i)
	}
	return v
}

// shmGrowReaderRole: url. Reads the Dict "big" and the List "biglist" while
// the parent fills them, following their new generations, until "done".
// Prints how many generations it mapped.
func shmGrowReaderRole() int {
	ctx := context.Background()
	remaps := 0
	var mu sync.Mutex
	manager.SetShmHook(func(p string) {
		if p == "remap" {
			mu.Lock()
			remaps++
			mu.Unlock()
		}
	})
	m, err := manager.Open(ctx, proctest.Args()[0], nil)
	if err != nil {
		return childFail(err)
	}
	defer m.Close()
	d, err := manager.OpenDict[int64, []byte](ctx, m, "big")
	if err != nil {
		return childFail(err)
	}
	l, err := manager.OpenList[[]byte](ctx, m, "biglist")
	if err != nil {
		return childFail(err)
	}
	progress, err := manager.OpenDict[string, int64](ctx, m, "progress")
	if err != nil {
		return childFail(err)
	}
	done, err := manager.OpenEvent(ctx, m, "done")
	if err != nil {
		return childFail(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	reads := 0
	for {
		finished, _ := done.IsSet(ctx) // before reading: then the last state is checked
		n, _, err := progress.Get(ctx, "n")
		if err != nil {
			return childFail(err)
		}
		if n > 0 {
			k := rng.IntN(int(n))
			v, ok, err := d.Get(ctx, int64(k))
			if err != nil || !ok || string(v) != string(shmBigValue(k, len(v))) || len(v) != 1024 {
				return childFail(fmt.Errorf("Dict key %d of %d: %d bytes, %v, %v", k, n, len(v), ok, err))
			}
			ln, err := l.Len(ctx)
			if err != nil || int64(ln) < n {
				return childFail(fmt.Errorf("List of %d elements after %d appends: %v", ln, n, err))
			}
			v, err = l.At(ctx, k)
			if err != nil || string(v) != string(shmBigValue(k, 256)) {
				return childFail(fmt.Errorf("List element %d: %d bytes, %v", k, len(v), err))
			}
			reads++
		}
		if finished {
			break
		}
	}
	items, err := d.Items(ctx)
	if err != nil {
		return childFail(err)
	}
	for k, v := range items {
		if string(v) != string(shmBigValue(int(k), 1024)) {
			return childFail(fmt.Errorf("Items: key %d", k))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("remaps=%d reads=%d keys=%d\n", remaps, reads, len(items))
	return 0
}

// TestShmGrowthWhileReading fills a Dict with megabytes of values and a
// List with thousands of elements from their initial size, while another
// process reads them and must follow every new generation.
func TestShmGrowthWhileReading(t *testing.T) {
	url, m := shmManager(t, nil)
	ctx := ctxT(t)
	d, err := manager.OpenDict[int64, []byte](ctx, m, "big")
	shmMust(t, err)
	l, err := manager.OpenList[[]byte](ctx, m, "biglist")
	shmMust(t, err)
	progress, err := manager.OpenDict[string, int64](ctx, m, "progress")
	shmMust(t, err)
	done, err := manager.OpenEvent(ctx, m, "done")
	shmMust(t, err)
	c := proctest.Start(t, "shm-grow-reader", []string{url}, nil)
	const n = 5000 // 5 MiB of Dict values, 1.25 MiB of List elements
	for k := range n {
		shmMust(t, d.Set(ctx, int64(k), shmBigValue(k, 1024)))
		shmMust(t, l.Append(ctx, shmBigValue(k, 256)))
		shmMust(t, progress.Set(ctx, "n", int64(k+1)))
		if k%500 == 0 {
			time.Sleep(time.Millisecond) // let the reader see the middle too
		}
	}
	shmMust(t, done.Set(ctx))
	c.MustSucceed(t, shmChildTimeout)
	var remaps, reads, keys int
	if _, err := fmt.Sscanf(c.Output(), "remaps=%d reads=%d keys=%d", &remaps, &reads, &keys); err != nil {
		t.Fatalf("reader's output %q: %v", c.Output(), err)
	}
	t.Logf("the reader mapped %d generations in %d reads", remaps, reads)
	if keys != n || remaps < 5 {
		t.Fatalf("reader saw %d keys, mapped %d generations", keys, remaps)
	}
	if got, err := d.Len(ctx); got != n || err != nil {
		t.Fatalf("Len %d, %v", got, err)
	}
}

// shmOpenRaceRole: url. Opens the manager (racing other processes to
// create it) and counts itself in.
func shmOpenRaceRole() int {
	ctx := context.Background()
	m, err := manager.Open(ctx, proctest.Args()[0], nil)
	if err != nil {
		return childFail(err)
	}
	defer m.Close()
	d, err := manager.OpenDict[string, int64](ctx, m, "d")
	if err != nil {
		return childFail(err)
	}
	if err := d.Update(ctx, "n", func(old int64, _ bool) (int64, bool) { return old + 1, true }); err != nil {
		return childFail(err)
	}
	s, err := manager.OpenSemaphore(ctx, m, "s", 3)
	if err != nil {
		return childFail(err)
	}
	if err := s.Acquire(ctx); err != nil {
		return childFail(err)
	}
	return 0 // the unit goes with us: 3 processes take all 3
}

// TestShmOpenRace has processes, and goroutines with their own managers,
// open a manager that does not exist yet, all at once: one creates it, the
// others wait for its header and attach, and all see the same objects.
func TestShmOpenRace(t *testing.T) {
	name := proctest.Name(t)
	url := "shm:" + name
	ctx := ctxT(t)
	var cs []*proctest.Child
	for range 3 {
		cs = append(cs, proctest.Start(t, "shm-open-race", []string{url}, nil))
	}
	var wg sync.WaitGroup
	ms := make([]*manager.Manager, 6)
	for i := range ms {
		wg.Go(func() {
			m, err := manager.Open(ctx, url, nil)
			if err != nil {
				t.Error(err)
				return
			}
			ms[i] = m
			d, err := manager.OpenDict[string, int64](ctx, m, "d")
			if err == nil {
				err = d.Update(ctx, "n", func(old int64, _ bool) (int64, bool) { return old + 1, true })
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, c := range cs {
		c.MustSucceed(t, shmChildTimeout)
	}
	defer func() {
		for _, m := range ms[1:] {
			if m != nil {
				m.Close()
			}
		}
	}()
	if ms[0] == nil {
		t.FailNow()
	}
	defer ms[0].Destroy(ctx)
	d, err := manager.OpenDict[string, int64](ctx, ms[0], "d")
	shmMust(t, err)
	if n, _, err := d.Get(ctx, "n"); n != 9 || err != nil {
		t.Fatalf("n = %d, want 9: %v", n, err)
	}
	s, err := manager.OpenSemaphore(ctx, ms[0], "s", 3)
	shmMust(t, err)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("semaphore created once with 3 units, taken by 3 processes: %v", err)
	}
}

// TestShmCreatorDied: a manager segment whose creator died before storing
// the magic word is initialized by the next Open; one holding another
// magic word is refused.
func TestShmCreatorDied(t *testing.T) {
	ctx := ctxT(t)
	c := proctest.Start(t, "shm-exit", nil, nil)
	c.MustSucceed(t, shmChildTimeout)
	name := proctest.Name(t)
	seg, err := shm.Create(name, 1<<16, nil)
	shmMust(t, err)
	defer seg.Close()
	binary.NativeEndian.PutUint32(seg.Bytes()[24:], uint32(c.Pid())) // creator: dead
	m, err := manager.Open(ctx, "shm:"+name, nil)
	shmMust(t, err)
	d, err := manager.OpenDict[string, int64](ctx, m, "d")
	shmMust(t, err)
	shmMust(t, d.Set(ctx, "a", 1))
	shmMust(t, m.Destroy(ctx))

	foreign := proctest.Name(t)
	seg2, err := shm.Create(foreign, 1<<16, nil)
	shmMust(t, err)
	defer seg2.Unlink()
	defer seg2.Close()
	copy(seg2.Bytes(), "PK\x03\x04")
	if m, err := manager.Open(ctx, "shm:"+foreign, nil); !errors.Is(err, manager.ErrCorrupt) {
		if m != nil {
			m.Close()
		}
		t.Fatalf("Open of a foreign segment: %v, want ErrCorrupt", err)
	}
}

// TestShmManyObjects fills several directory pages (small pages through
// Options.Size); a second manager with other options sees every object.
func TestShmManyObjects(t *testing.T) {
	url, m := shmManager(t, &manager.Options{Size: 4096}) // 15 entries a page
	ctx := ctxT(t)
	const n = 50
	for i := range n {
		d, err := manager.OpenDict[string, int64](ctx, m, "d"+strconv.Itoa(i))
		shmMust(t, err)
		shmMust(t, d.Set(ctx, "i", int64(i)))
	}
	m2 := open(t, url)
	defer m2.Close()
	for i := range n {
		d, err := manager.OpenDict[string, int64](ctx, m2, "d"+strconv.Itoa(i))
		shmMust(t, err)
		if v, ok, err := d.Get(ctx, "i"); v != int64(i) || !ok || err != nil {
			t.Fatalf("d%d: %d %v %v", i, v, ok, err)
		}
	}
	name := strings.Repeat("x", 169)
	if _, err := manager.OpenDict[string, int64](ctx, m, name); err == nil {
		t.Fatal("object name of 169 bytes accepted")
	}
}

// TestShmNames: manager names must be valid segment names with room for
// the objects' suffixes.
func TestShmNames(t *testing.T) {
	ctx := ctxT(t)
	for _, u := range []string{"shm:", "shm:a/b", "shm:" + strings.Repeat("n", 201), "shm:a\x00b", "shm:.."} {
		if m, err := manager.Open(ctx, u, nil); !errors.Is(err, manager.ErrURL) {
			if m != nil {
				m.Close()
			}
			t.Errorf("Open(%q): %v, want ErrURL", u, err)
		}
	}
}

// TestShmDestroy: Destroy removes every segment (directory pages, every
// object's generation, and what a crash left), and managers still open
// elsewhere get ErrClosed.
func TestShmDestroy(t *testing.T) {
	name := proctest.Name(t)
	url := "shm:" + name
	ctx := ctxT(t)
	m, err := manager.Open(ctx, url, &manager.Options{Size: 4096})
	shmMust(t, err)
	m2 := open(t, url)
	defer m2.Close()
	d, err := manager.OpenDict[int64, []byte](ctx, m, "d")
	shmMust(t, err)
	for i := range 200 {
		shmMust(t, d.Set(ctx, int64(i), make([]byte, 1000)))
	}
	l, err := manager.OpenList[int64](ctx, m, "l")
	shmMust(t, err)
	shmMust(t, l.Append(ctx, 1, 2, 3))
	q, err := manager.OpenQueue[int64](ctx, m, "q")
	shmMust(t, err)
	shmMust(t, q.Put(ctx, 1))
	for i := range 20 { // a second directory page
		_, err := manager.OpenLock(ctx, m, "lock"+strconv.Itoa(i))
		shmMust(t, err)
	}
	d2, err := manager.OpenDict[int64, []byte](ctx, m2, "d")
	shmMust(t, err)
	if _, ok, err := d2.Get(ctx, 5); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// What a writer that died building the next generation leaves.
	var stale string
	ents, _ := os.ReadDir(shm.Dir)
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), name+".1."); ok {
			g, _ := strconv.Atoi(rest)
			stale = fmt.Sprintf("%s.1.%d", name, g+1)
		}
	}
	seg, err := shm.Create(stale, 4096, nil)
	shmMust(t, err)
	seg.Close()

	shmMust(t, m.Destroy(ctx))
	ents, _ = os.ReadDir(shm.Dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name) {
			t.Errorf("segment %s survived Destroy", e.Name())
		}
	}
	if _, _, err := d2.Get(ctx, 5); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Get from another manager after Destroy: %v", err)
	}
	if err := d2.Set(ctx, 5, nil); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Set from another manager after Destroy: %v", err)
	}
	if _, err := manager.OpenDict[int64, int64](ctx, m2, "new"); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("OpenDict after Destroy: %v", err)
	}
	if _, _, err := d.Get(ctx, 5); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Get after Destroy: %v", err)
	}
}

// TestShmCloseWakesWaiters: Close ends every blocked wait with ErrClosed
// and releases the Locks the manager holds.
func TestShmCloseWakesWaiters(t *testing.T) {
	url, m := shmManager(t, nil)
	ctx := ctxT(t)
	m2 := open(t, url)
	q, err := manager.OpenQueue[int](ctx, m2, "q")
	shmMust(t, err)
	l, err := manager.OpenLock(ctx, m, "l")
	shmMust(t, err)
	shmMust(t, l.Lock(ctx))
	l2, err := manager.OpenLock(ctx, m2, "l")
	shmMust(t, err)
	e, err := manager.OpenEvent(ctx, m2, "e")
	shmMust(t, err)
	s, err := manager.OpenSemaphore(ctx, m2, "s", 0)
	shmMust(t, err)
	held, err := manager.OpenLock(ctx, m2, "held")
	shmMust(t, err)
	shmMust(t, held.Lock(ctx))
	errs := make(chan error, 4)
	go func() { _, err := q.Get(ctx); errs <- err }()
	go func() { errs <- l2.Lock(ctx) }()
	go func() { errs <- e.Wait(ctx) }()
	go func() { errs <- s.Acquire(ctx) }()
	time.Sleep(20 * time.Millisecond)
	shmMust(t, m2.Close())
	for range 4 {
		if err := <-errs; !errors.Is(err, manager.ErrClosed) {
			t.Errorf("blocked call after Close: %v", err)
		}
	}
	if err := q.Put(ctx, 1); !errors.Is(err, manager.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	// m2's Lock "held" was released by Close.
	h, err := manager.OpenLock(ctx, m, "held")
	shmMust(t, err)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	shmMust(t, h.Lock(short))
	shmMust(t, h.Unlock(ctx))
	shmMust(t, l.Unlock(ctx))
}

// TestShmQueueCancelledGets: Gets cancelled at random never lose or
// duplicate an item.
func TestShmQueueCancelledGets(t *testing.T) {
	url, m := shmManager(t, nil)
	ctx := ctxT(t)
	seed := shmSeed(t)
	const items, consumers = 3000, 4
	var mu sync.Mutex
	seen := make([]int, items)
	var wg sync.WaitGroup
	for c := range consumers {
		mc := open(t, url) // a mapping of its own, as another process would have
		defer mc.Close()
		q, err := manager.OpenQueue[int](ctx, mc, "q")
		shmMust(t, err)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for {
				gctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(300))*time.Microsecond)
				v, err := q.Get(gctx)
				cancel()
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					continue
				case err != nil:
					t.Error(err)
					return
				case v < 0:
					return
				}
				mu.Lock()
				seen[v]++
				mu.Unlock()
			}
		})
	}
	q, err := manager.OpenQueue[int](ctx, m, "q")
	shmMust(t, err)
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range items {
		shmMust(t, q.Put(ctx, i))
		if rng.IntN(100) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for range consumers {
		shmMust(t, q.Put(ctx, -1))
	}
	wg.Wait()
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("item %d taken %d times", i, n)
		}
	}
}

// shmLockHolderRole: url. Takes the Lock "l", sets "locked", waits to be
// killed.
func shmLockHolderRole() int {
	ctx := context.Background()
	m, err := manager.Open(ctx, proctest.Args()[0], nil)
	if err != nil {
		return childFail(err)
	}
	l, err := manager.OpenLock(ctx, m, "l")
	if err != nil {
		return childFail(err)
	}
	e, err := manager.OpenEvent(ctx, m, "locked")
	if err != nil {
		return childFail(err)
	}
	if err := l.Lock(ctx); err != nil {
		return childFail(err)
	}
	if err := e.Set(ctx); err != nil {
		return childFail(err)
	}
	time.Sleep(time.Hour)
	return 1
}

// TestShmLockHolderDies: the Lock of a process that died is taken by the
// next Lock.
func TestShmLockHolderDies(t *testing.T) {
	url, m := shmManager(t, nil)
	ctx := ctxT(t)
	l, err := manager.OpenLock(ctx, m, "l")
	shmMust(t, err)
	e, err := manager.OpenEvent(ctx, m, "locked")
	shmMust(t, err)
	c := proctest.Start(t, "shm-lock-holder", []string{url}, nil)
	shmMust(t, e.Wait(ctx))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	err = l.Lock(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while another process holds it: %v", err)
	}
	c.Kill()
	shmMust(t, l.Lock(ctx))
	shmMust(t, l.Unlock(ctx))
}

// TestShmSemaphoreKeepsCount: the count is set by the first open only.
func TestShmSemaphoreKeepsCount(t *testing.T) {
	url, m := shmManager(t, nil)
	ctx := ctxT(t)
	s, err := manager.OpenSemaphore(ctx, m, "s", 2)
	shmMust(t, err)
	shmMust(t, s.Acquire(ctx))
	m2 := open(t, url)
	defer m2.Close()
	s2, err := manager.OpenSemaphore(ctx, m2, "s", 5)
	shmMust(t, err)
	shmMust(t, s2.Acquire(ctx))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s2.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Acquire of a semaphore of 2: %v", err)
	}
}

// TestShmCorruptSegment scribbles on an object's segment: operations
// report ErrCorrupt (or still work), never panic.
func TestShmCorruptSegment(t *testing.T) {
	url, m := shmManager(t, nil)
	name := strings.TrimPrefix(url, "shm:")
	ctx := ctxT(t)
	d, err := manager.OpenDict[string, []byte](ctx, m, "d")
	shmMust(t, err)
	for i := range 100 {
		shmMust(t, d.Set(ctx, strconv.Itoa(i), []byte(strings.Repeat("v", i))))
	}
	seg := openObjectSegment(t, name)
	defer seg.Close()
	mem := seg.Bytes()
	rng := rand.New(rand.NewPCG(shmSeed(t), 0))
	for i := 128; i < len(mem); i += 1 + rng.IntN(64) { // table and arena
		mem[i] = byte(rng.Uint32())
	}
	corrupt := 0
	for i := range 100 {
		_, _, err := d.Get(ctx, strconv.Itoa(i))
		if errors.Is(err, manager.ErrCorrupt) {
			corrupt++
		} else if err != nil {
			t.Fatal(err)
		}
		_ = d.Set(ctx, strconv.Itoa(i), []byte("new"))
	}
	if _, err := d.Items(ctx); err != nil && !errors.Is(err, manager.ErrCorrupt) {
		t.Fatal(err)
	}
	t.Logf("%d of 100 Gets met the damage", corrupt)
	// A header that is not ours: other managers cannot map it.
	copy(mem, "garbage!")
	m2 := open(t, url)
	defer m2.Close()
	d2, err := manager.OpenDict[string, []byte](ctx, m2, "d")
	shmMust(t, err)
	if _, _, err := d2.Get(ctx, "1"); !errors.Is(err, manager.ErrCorrupt) && !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Get through a scribbled header: %v", err)
	}
}

// TestShmCloseDuringOperations closes a manager while goroutines use it,
// growing its objects: they end with ErrClosed, and nothing they still
// read is unmapped under them.
func TestShmCloseDuringOperations(t *testing.T) {
	url, m := shmManager(t, nil)
	ctx := ctxT(t)
	mc := open(t, url)
	d, err := manager.OpenDict[int64, []byte](ctx, mc, "d")
	shmMust(t, err)
	l, err := manager.OpenList[int64](ctx, mc, "l")
	shmMust(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				var err error
				switch g {
				case 0:
					err = d.Set(ctx, i%5000, make([]byte, i%5000%300))
				case 1:
					_, _, err = d.Get(ctx, i%5000)
				case 2:
					err = l.Append(ctx, i)
				default:
					_, err = l.At(ctx, int(i%100))
					if errors.Is(err, manager.ErrIndex) {
						err = nil
					}
				}
				if err != nil {
					if !errors.Is(err, manager.ErrClosed) {
						t.Errorf("goroutine %d: %v", g, err)
					}
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	shmMust(t, mc.Close())
	wg.Wait()
	runtime.GC() // unmaps what is no longer used
	runtime.GC()
	// The data is intact for the manager still open.
	d2, err := manager.OpenDict[int64, []byte](ctx, m, "d")
	shmMust(t, err)
	items, err := d2.Items(ctx)
	shmMust(t, err)
	for k, v := range items {
		if len(v) != int(k%300) {
			t.Fatalf("key %d: %d bytes", k, len(v))
		}
	}
}

// TestShmCloseUnmaps: once closed and collected, a manager leaves no
// mapping (and no descriptor: proctest checks those) of its segments.
func TestShmCloseUnmaps(t *testing.T) {
	url, m := shmManager(t, nil)
	name := strings.TrimPrefix(url, "shm:")
	ctx := ctxT(t)
	mc := open(t, url)
	d, err := manager.OpenDict[int64, []byte](ctx, mc, "d")
	shmMust(t, err)
	for i := range 2000 { // several generations
		shmMust(t, d.Set(ctx, int64(i), make([]byte, 500)))
	}
	shmMust(t, mc.Close())
	shmMust(t, m.Close()) // the cleanup's Destroy then reopens nothing: it fails with ErrClosed
	mapped := func() int {
		b, err := os.ReadFile("/proc/self/maps")
		shmMust(t, err)
		return strings.Count(string(b), "/dev/shm/"+name)
	}
	for deadline := time.Now().Add(time.Minute); mapped() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d mappings of %s left after Close", mapped(), name)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	m2 := open(t, url)
	shmMust(t, m2.Destroy(ctx))
}

// TestShmUpdateRaw drives Dict.Update's allocation-free path (shared
// memory, raw values) through its branches: goroutines with their own
// managers contend on one key (the optimistic update misses and retries
// under the lock) while others insert keys (the object grows under
// Updates in flight) and delete them again (fn declining to keep); values
// larger than the stack buffers; and a panicking fn, which must leave the
// lock free.
func TestShmUpdateRaw(t *testing.T) {
	url, m0 := shmManager(t, nil)
	ctx := ctxT(t)
	type big struct{ A [24]int64 } // 192 bytes: beyond the stack buffers
	const workers, rounds = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m, err := manager.Open(ctx, url, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer m.Close()
			d, err := manager.OpenDict[int64, int64](ctx, m, "d")
			if err != nil {
				t.Error(err)
				return
			}
			bd, err := manager.OpenDict[string, big](ctx, m, "big")
			if err != nil {
				t.Error(err)
				return
			}
			for i := range rounds {
				incr := func(old int64, _ bool) (int64, bool) { return old + 1, true }
				if err := d.Update(ctx, 0, incr); err != nil {
					t.Error(err)
					return
				}
				k := int64(1 + w*rounds + i) // new key: the table grows
				if err := d.Update(ctx, k, func(old int64, found bool) (int64, bool) {
					if found {
						t.Errorf("key %d found before it was inserted", k)
					}
					return k, true
				}); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 { // delete it again through Update
					if err := d.Update(ctx, k, func(int64, bool) (int64, bool) { return 0, false }); err != nil {
						t.Error(err)
						return
					}
				}
				if err := bd.Update(ctx, "b", func(old big, _ bool) (big, bool) {
					for j := range old.A {
						old.A[j]++
					}
					return old, true
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	d, err := manager.OpenDict[int64, int64](ctx, m0, "d")
	shmMust(t, err)
	if n, _, err := d.Get(ctx, 0); n != workers*rounds || err != nil {
		t.Fatalf("key 0 = %d, want %d: %v", n, workers*rounds, err)
	}
	if n, err := d.Len(ctx); n != 1+workers*rounds/2 || err != nil {
		t.Fatalf("%d keys, want %d: %v", n, 1+workers*rounds/2, err)
	}
	for w := range workers {
		for i := 1; i < rounds; i += 2 {
			k := int64(1 + w*rounds + i)
			if v, ok, err := d.Get(ctx, k); v != k || !ok || err != nil {
				t.Fatalf("key %d = %d, %v, %v", k, v, ok, err)
			}
		}
	}
	bd, err := manager.OpenDict[string, big](ctx, m0, "big")
	shmMust(t, err)
	b, _, err := bd.Get(ctx, "b")
	shmMust(t, err)
	for j, v := range b.A {
		if v != workers*rounds {
			t.Fatalf("big.A[%d] = %d, want %d", j, v, workers*rounds)
		}
	}

	// A panicking fn, on the optimistic path and on the one under the lock.
	for _, pessimistic := range []bool{false, true} {
		if pessimistic {
			shmMust(t, manager.ShmPessimistic(m0, "d", 1))
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic in fn did not reach the caller")
				}
			}()
			_ = d.Update(ctx, 0, func(int64, bool) (int64, bool) { panic("boom") })
		}()
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.Update(short, 0, func(old int64, _ bool) (int64, bool) { return old + 1, true }); err != nil {
		t.Fatalf("Update after panicking fns: %v (lock left held?)", err)
	}
}

// TestShmCorruptRawDict scribbles on the segment of a Dict of raw keys and
// values, whose Get, Set and Update take the allocation-free paths: they
// report ErrCorrupt (or still work), never panic, and never hang.
func TestShmCorruptRawDict(t *testing.T) {
	url, m := shmManager(t, nil)
	name := strings.TrimPrefix(url, "shm:")
	ctx := ctxT(t)
	d, err := manager.OpenDict[int64, int64](ctx, m, "r")
	shmMust(t, err)
	for i := range int64(200) {
		shmMust(t, d.Set(ctx, i, i))
	}
	seg := openObjectSegment(t, name)
	defer seg.Close()
	mem := seg.Bytes()
	rng := rand.New(rand.NewPCG(shmSeed(t), 0))
	corrupt := 0
	for round := range 20 {
		for i := 128; i < len(mem); i += 1 + rng.IntN(256) { // table and arena
			mem[i] = byte(rng.Uint32())
		}
		for i := range int64(200) {
			check := func(op string, err error) {
				if errors.Is(err, manager.ErrCorrupt) {
					corrupt++
				} else if err != nil {
					t.Fatalf("round %d: %s %d: %v", round, op, i, err)
				}
			}
			_, _, err := d.Get(ctx, i)
			check("Get", err)
			check("Set", d.Set(ctx, i+int64(round)*7, i))
			check("Update", d.Update(ctx, i, func(old int64, found bool) (int64, bool) { return old + 1, i%5 != 0 }))
			_, err = d.Delete(ctx, i+3)
			check("Delete", err)
		}
	}
	if corrupt == 0 {
		t.Fatal("no operation met the damage: the test scribbled elsewhere")
	}
	t.Logf("%d operations met the damage", corrupt)
}

// TestShmDictRawNoAlloc backs the documented claim: on shared memory, with
// fixed-size pointer-free keys and values, Get, Set and Update of a key
// that exists do not allocate.
func TestShmDictRawNoAlloc(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	_, m := shmManager(t, nil)
	ctx := ctxT(t)
	d, err := manager.OpenDict[int64, int64](ctx, m, "d")
	shmMust(t, err)
	shmMust(t, d.Set(ctx, 7, 1))
	incr := func(old int64, _ bool) (int64, bool) { return old + 1, true }
	for name, op := range map[string]func(){
		"Get":    func() { _, _, _ = d.Get(ctx, 7) },
		"Set":    func() { _ = d.Set(ctx, 7, 2) },
		"Update": func() { _ = d.Update(ctx, 7, incr) },
	} {
		if n := testing.AllocsPerRun(1000, op); n != 0 {
			t.Errorf("%s: %.1f allocations per call, want 0", name, n)
		}
	}
}

// openObjectSegment opens the segment of the first object created in the
// shm manager name (segment name.1.<generation>), to scribble on it.
func openObjectSegment(t *testing.T, name string) *shm.Segment {
	t.Helper()
	ents, _ := os.ReadDir(shm.Dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+".1.") {
			seg, err := shm.Open(e.Name(), nil)
			shmMust(t, err)
			return seg
		}
	}
	t.Fatal("no segment for the object")
	return nil
}
