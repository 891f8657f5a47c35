package ring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/proctest"
	"github.com/shmkit/shmkit/shm"
)

type item struct {
	Producer, Seq int32
	Sum           float64
}

func init() {
	// queue-consume: args ref (JSON) joinable(0/1) — take items until a
	// negative Seq, mark each done when joinable, and put the count of
	// items taken into the same queue as an item with Producer -1.
	roles["queue-consume"] = func() int {
		var r QueueRef
		if err := json.Unmarshal([]byte(proctest.Args()[0]), &r); err != nil {
			proctest.Fail("ref: %v", err)
		}
		shm.Adopt(r.Seg.PID, r.Seg.ID, 3)
		ctx := context.Background()
		jq, err := OpenJoinableQueue[item](r, nil)
		if err != nil {
			proctest.Fail("open: %v", err)
		}
		n := 0
		for {
			it, err := jq.Get(ctx)
			if err != nil {
				proctest.Fail("get: %v", err)
			}
			if it.Seq < 0 {
				_ = jq.TaskDone()
				break
			}
			n++
			time.Sleep(time.Microsecond)
			if err := jq.TaskDone(); err != nil {
				proctest.Fail("task done: %v", err)
			}
		}
		if n == 0 {
			fmt.Fprintln(os.Stderr, "child: took no items (possible, not an error)")
		}
		return 0
	}
	// queue-strings: args ref — read strings until "", echo their lengths
	// back as strings into the second queue.
	roles["queue-big"] = func() int {
		var r QueueRef
		if err := json.Unmarshal([]byte(proctest.Args()[0]), &r); err != nil {
			proctest.Fail("ref: %v", err)
		}
		shm.Adopt(r.Seg.PID, r.Seg.ID, 3)
		q, err := OpenQueue[[]string](r, nil)
		if err != nil {
			proctest.Fail("open: %v", err)
		}
		v, err := q.Get(context.Background())
		if err != nil {
			proctest.Fail("get: %v", err)
		}
		if len(v) != 5000 || v[4999] != strings.Repeat("z", 20) {
			proctest.Fail("big value: %d", len(v))
		}
		return 0
	}
}

func TestQueueRaw(t *testing.T) {
	ctx := ctxT(t)
	q, err := NewQueue[int64](5) // rounded up to 8
	if err != nil {
		t.Fatal(err)
	}
	defer q.Detach()
	if q.Cap() != 8 || !q.Empty() {
		t.Fatalf("Cap %d Empty %v", q.Cap(), q.Empty())
	}
	if _, err := q.TryGet(); !errors.Is(err, ErrEmpty) {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := q.TryPut(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.TryPut(8); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPut on a full queue: %v", err)
	}
	if q.Len() != 8 {
		t.Fatal(q.Len())
	}
	for i := range 8 {
		if v, err := q.Get(ctx); v != int64(i) || err != nil {
			t.Fatalf("Get %d: %d %v", i, v, err)
		}
	}
	if err := q.Put(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Put(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if v, err := q.Get(ctx); v != 42 || err != nil {
		t.Fatalf("drain after Close: %d %v", v, err)
	}
	if _, err := q.Get(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after drain: %v", err)
	}
	if _, err := NewQueue[int64](0); !errors.Is(err, ErrGeometry) {
		t.Fatalf("capacity 0: %v", err)
	}
}

func TestQueueCodecAndSpill(t *testing.T) {
	ctx := ctxT(t)
	q, err := NewQueueOptions[[]string](16, &QueueOptions{SlotSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Detach()
	if err := q.Put(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if v, err := q.Get(ctx); err != nil || len(v) != 2 || v[1] != "b" {
		t.Fatalf("%v %v", v, err)
	}
	// A value far larger than the slot travels through a spill segment,
	// here to another process, which removes it.
	big := make([]string, 5000)
	for i := range big {
		big[i] = strings.Repeat("z", 20)
	}
	f, err := q.seg.Dup()
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := json.Marshal(q.Ref())
	c := proctest.Start(t, "queue-big", []string{string(ref)}, &proctest.Options{Files: []*os.File{f}})
	f.Close()
	if err := q.Put(ctx, big); err != nil {
		t.Fatal(err)
	}
	c.MustSucceed(t, time.Minute)
	left, _ := shm.List()
	for _, s := range left {
		if strings.HasPrefix(s.Name, fmt.Sprintf("shmkit-spill-%d-", os.Getpid())) {
			t.Fatalf("spill segment left behind: %s", s.Name)
		}
	}
	// Wrong type on open.
	if _, err := OpenQueue[int](q.Ref(), nil); !errors.Is(err, ErrQueue) {
		t.Fatalf("OpenQueue with another type: %v", err)
	}
}

// TestJoinableQueue: 3 processes consume; Join returns only after every
// item was marked done.
func TestJoinableQueue(t *testing.T) {
	ctx := ctxT(t)
	jq, err := NewJoinableQueue[item](64, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jq.Detach()
	if err := jq.TaskDone(); !errors.Is(err, ErrTaskDone) {
		t.Fatalf("TaskDone with nothing put: %v", err)
	}
	ref, _ := json.Marshal(jq.Ref())
	const procs, items = 3, 300
	var cs []*proctest.Child
	for range procs {
		f, err := jq.seg.Dup()
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, proctest.Start(t, "queue-consume", []string{string(ref)}, &proctest.Options{Files: []*os.File{f}}))
		f.Close()
	}
	for i := range items {
		if err := jq.Put(ctx, item{Producer: 0, Seq: int32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for range procs {
		if err := jq.Put(ctx, item{Seq: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := jq.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if n := jq.Unfinished(); n != 0 {
		t.Fatalf("Join returned with %d unfinished", n)
	}
	for _, c := range cs {
		c.MustSucceed(t, time.Minute)
	}
}

func TestSimpleQueueAndRace(t *testing.T) {
	ctx := ctxT(t)
	sq, err := NewSimpleQueue[*int]() // pointers go through the codec
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	x := 5
	if err := sq.Put(ctx, &x); err != nil {
		t.Fatal(err)
	}
	if p, err := sq.Get(ctx); err != nil || *p != 5 || p == &x {
		t.Fatalf("%v %v", p, err)
	}
	if !sq.Empty() {
		t.Fatal("not empty")
	}
	// A plain variable published through the queue: the race detector
	// must see the queue's synchronization.
	q, err := NewQueue[int32](4)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Detach()
	plain := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		plain = 42
		if err := q.Put(ctx, 1); err != nil {
			t.Error(err)
		}
	}()
	if _, err := q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if plain != 42 {
		t.Fatal(plain)
	}
	wg.Wait()
}

// TestQueueBatch: PutBatch and GetBatch move every item once, in order,
// through a queue smaller than the batches, for a raw and a codec type;
// a joinable queue counts what PutBatch appended.
func TestQueueBatch(t *testing.T) {
	ctx := ctxT(t)
	q, err := NewQueue[int64](8)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Detach()
	const n = 1000
	in := make([]int64, n)
	for i := range in {
		in[i] = int64(i) * 3
	}
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < n; i += 150 {
			if k, err := q.PutBatch(ctx, in[i:min(n, i+150)]); err != nil || k != min(n, i+150)-i {
				errc <- fmt.Errorf("PutBatch at %d: %d %v", i, k, err)
				return
			}
		}
		errc <- q.Close()
	}()
	var out []int64
	buf := make([]int64, 100)
	for {
		k, err := q.GetBatch(ctx, buf)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil || k == 0 {
			t.Fatalf("GetBatch after %d: %d %v", len(out), k, err)
		}
		out = append(out, buf[:k]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("got %d items, want %d", len(out), n)
	}
	for i, v := range out {
		if v != in[i] {
			t.Fatalf("item %d: %d, want %d", i, v, in[i])
		}
	}
	if k, err := q.PutBatch(ctx, in[:1]); k != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("PutBatch after Close: %d %v", k, err)
	}

	// A codec type, one by one underneath.
	cq, err := NewQueue[string](4)
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Detach()
	if k, err := cq.PutBatch(ctx, []string{"a", "b", "c"}); k != 3 || err != nil {
		t.Fatalf("codec PutBatch: %d %v", k, err)
	}
	sbuf := make([]string, 5)
	if k, err := cq.GetBatch(ctx, sbuf); k != 3 || err != nil || sbuf[2] != "c" || sbuf[3] != "" {
		t.Fatalf("codec GetBatch: %d %v %q", k, err, sbuf)
	}

	// JoinableQueue counts what PutBatch appended.
	jq, err := NewJoinableQueue[int32](2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jq.Detach()
	if k, err := jq.PutBatch(ctx, []int32{1, 2}); k != 2 || err != nil {
		t.Fatal(k, err)
	}
	_ = jq.Close()
	if k, err := jq.PutBatch(ctx, []int32{3}); k != 0 || !errors.Is(err, ErrClosed) {
		t.Fatal(k, err)
	}
	if u := jq.Unfinished(); u != 2 {
		t.Fatalf("Unfinished %d, want 2", u)
	}
}
