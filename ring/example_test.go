package ring_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// An SPSC ring in a shared-memory segment. Here one process plays both
// sides; a real receiver would open the segment (shm.Open, or an inherited
// descriptor) and call AttachSPSC.
func ExampleSPSC() {
	seg, err := shm.Anonymous(int64(ring.SPSCSize(8, 64)))
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	tx, err := ring.NewSPSC(seg.Bytes(), 8, 64)
	if err != nil {
		panic(err)
	}
	rx, err := ring.AttachSPSC(seg.Bytes())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	for _, m := range []string{"one", "two", "three"} {
		if err := tx.Send(ctx, []byte(m)); err != nil {
			panic(err)
		}
	}
	// Zero-copy: write the message in its slot.
	slot, _ := tx.Reserve(ctx)
	n := copy(slot, "four")
	_ = tx.Commit(n)
	_ = tx.Close()

	buf := make([]byte, rx.SlotSize())
	for {
		n, err := rx.Recv(ctx, buf)
		if err == ring.ErrClosed {
			fmt.Println("closed")
			break
		}
		fmt.Println(string(buf[:n]))
	}
	// Output:
	// one
	// two
	// three
	// four
	// closed
}

// An MPMC ring shared by several senders and receivers (goroutines here,
// processes alike).
func ExampleMPMC() {
	seg, err := shm.Anonymous(int64(ring.MPMCSize(16, 8)))
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	q, err := ring.NewMPMC(seg.Bytes(), 16, 8)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	done := make(chan int)
	for range 2 {
		go func() {
			sum := 0
			buf := make([]byte, 8)
			for {
				n, err := q.Recv(ctx, buf)
				if err == ring.ErrClosed {
					done <- sum
					return
				}
				sum += int(buf[n-1])
			}
		}()
	}
	for i := 1; i <= 100; i++ {
		if err := q.Send(ctx, []byte{byte(i)}); err != nil {
			panic(err)
		}
	}
	_ = q.Close()
	fmt.Println(<-done + <-done)
	fmt.Println(q.TrySend([]byte{1}))
	// Output:
	// 5050
	// ring: closed
}

// Waiting on two queues and an event at once. Select reports which case
// is ready; the caller then takes the item with a Try call, and selects
// again if another consumer took it first. Earlier cases have priority.
func ExampleSelect() {
	urgent, err := ring.NewQueue[int](16)
	if err != nil {
		panic(err)
	}
	defer urgent.Detach()
	jobs, err := ring.NewQueue[int](16)
	if err != nil {
		panic(err)
	}
	defer jobs.Detach()
	var stop locks.Event // usually in a segment shared with other processes
	ctx := context.Background()
	_ = jobs.Put(ctx, 1)
	_ = urgent.Put(ctx, 2)
	_ = jobs.Put(ctx, 3)

	for {
		i, err := ring.Select(ctx, ring.RecvReady(urgent), ring.RecvReady(jobs), ring.EventSet(&stop))
		if err != nil {
			panic(err)
		}
		switch i {
		case 0, 1:
			q := []*ring.Queue[int]{urgent, jobs}[i]
			v, err := q.TryGet()
			if err == ring.ErrEmpty {
				continue // another consumer was faster
			}
			fmt.Println([]string{"urgent", "job"}[i], v)
			if v == 3 {
				stop.Set()
			}
		case 2:
			fmt.Println("stop")
			return
		}
	}
	// Output:
	// urgent 2
	// job 1
	// job 3
	// stop
}
