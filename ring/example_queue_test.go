package ring_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/shmkit/shmkit/ring"
)

// A Queue of structs, raw-copied through shared memory. Another process
// receives the queue whole as a fork task argument, or opens it with
// OpenQueue(q.Ref(), nil) and the segment's descriptor.
func ExampleQueue() {
	type point struct{ X, Y int32 }
	ctx := context.Background()
	q, err := ring.NewQueue[point](16)
	if err != nil {
		panic(err)
	}
	defer q.Detach()
	for i := range int32(3) {
		if err := q.Put(ctx, point{i, i * i}); err != nil {
			panic(err)
		}
	}
	_ = q.Close() // no more puts; what was put is still received
	for {
		p, err := q.Get(ctx)
		if errors.Is(err, ring.ErrClosed) {
			break
		}
		fmt.Println(p.X, p.Y)
	}
	// Output:
	// 0 0
	// 1 1
	// 2 4
}

// A JoinableQueue: Join returns once every item put has been marked done.
func ExampleJoinableQueue() {
	ctx := context.Background()
	q, err := ring.NewJoinableQueue[string](8, nil) // strings go through a codec
	if err != nil {
		panic(err)
	}
	defer q.Detach()
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	wg.Go(func() { // a worker; it could be another process
		for {
			if _, err := q.Get(ctx); err != nil {
				return // ErrClosed
			}
			mu.Lock()
			done++
			mu.Unlock()
			_ = q.TaskDone()
		}
	})
	for _, job := range []string{"a", "b", "c"} {
		_ = q.Put(ctx, job)
	}
	if err := q.Join(ctx); err != nil {
		panic(err)
	}
	mu.Lock()
	fmt.Println("done:", done, "unfinished:", q.Unfinished())
	mu.Unlock()
	_ = q.Close()
	wg.Wait()
	// Output: done: 3 unfinished: 0
}

// A SimpleQueue: Put, Get, Empty and Close.
func ExampleSimpleQueue() {
	ctx := context.Background()
	q, err := ring.NewSimpleQueue[float64]()
	if err != nil {
		panic(err)
	}
	defer q.Close()
	_ = q.Put(ctx, 1.5)
	v, _ := q.Get(ctx)
	fmt.Println(v, q.Empty())
	// Output: 1.5 true
}

// A duplex Pipe: two Conn ends, each may go to another process (as a fork
// task argument, or by Ref and the segment's descriptor). Messages of any
// length; the peer's Close shows as io.EOF.
func ExamplePipe() {
	ctx := context.Background()
	a, b, err := ring.Pipe(true)
	if err != nil {
		panic(err)
	}
	echoed := make(chan struct{})
	go func() { // the other end echoes, upper-cased
		defer close(echoed)
		defer b.Close()
		buf := make([]byte, 64)
		for {
			n, err := b.RecvInto(ctx, buf)
			if err != nil {
				return // io.EOF when a closes
			}
			for i, c := range buf[:n] {
				if 'a' <= c && c <= 'z' {
					buf[i] = c - 'a' + 'A'
				}
			}
			_ = b.Send(ctx, buf[:n])
		}
	}()
	// SendBuffers sends pieces as one message, without joining them first.
	if err := a.SendBuffers(ctx, [][]byte{[]byte("hello, "), []byte("pipe")}); err != nil {
		panic(err)
	}
	reply, err := a.Recv(ctx)
	fmt.Printf("%s %v\n", reply, err)
	a.Close() // the echo loop sees io.EOF and closes its end
	<-echoed
	// Output: HELLO, PIPE <nil>
}
