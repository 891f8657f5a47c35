// Package ring provides lock-free rings of messages in shared memory: SPSC,
// for one sender and one receiver, and MPMC, for any number of each. A
// message is a byte string of up to the ring's slot size; it is copied into
// a slot by the sender and out of it by the receiver (or written and read
// in place), and nothing is encoded or allocated on the way.
//
// # Basics
//
// A ring lives in memory you provide, usually a shared-memory segment that
// several processes map. One process initializes it with NewSPSC (or
// NewMPMC), the others attach to it with AttachSPSC (AttachMPMC), which
// validates the header the first one wrote. SPSCSize and MPMCSize say how
// many bytes a ring of a given geometry needs: a slot count (a power of
// two) and a slot size.
//
//	seg, _ := shm.Create("jobs", int64(ring.SPSCSize(1024, 256)), nil)
//	r, _ := ring.NewSPSC(seg.Bytes(), 1024, 256)
//	_ = r.Send(ctx, []byte("hello"))
//
//	// In another process:
//	seg, _ := shm.Open("jobs", nil)
//	r, _ := ring.AttachSPSC(seg.Bytes())
//	buf := make([]byte, r.SlotSize())
//	n, _ := r.Recv(ctx, buf)
//
// Both rings have Send and Recv, which wait (for room, for a message) until
// their context ends, TrySend and TryRecv, which return ErrFull and
// ErrEmpty instead of waiting, batch forms (SendBatch, RecvBatch and their
// Try forms) that move many messages per publication, and Len, Cap,
// SlotSize, Closed and Close. SPSC also has a zero-copy form: Reserve a
// slot, write the message in place, Commit it; Peek at the next message in
// place, then Release it.
//
// A message longer than the slot size is refused with ErrTooLarge. A
// receive whose buffer is too short for the next message returns
// ErrShortBuffer together with the message's length, and leaves the
// message in the ring, so the caller can retry with a larger buffer.
//
// # Closing
//
// Close closes a ring for every process: senders get ErrClosed at once;
// receivers receive what is left, then get ErrClosed. Close wakes every
// sleeping sender and receiver. Close is exact: a send racing with it
// either publishes a message that is received or fails with ErrClosed. In
// an MPMC ring the closed flag is bit 63 of the enqueue position, the word
// every send claims its slot through; an SPSC receiver that finds the ring
// closed and empty poisons the next slot's mark, the word a send publishes
// through (see SPSC).
//
// # Waiting
//
// A blocked call spins for a few tens of microseconds, which is what a peer
// on another core needs to make progress and much less than a futex sleep
// and wake-up cost, then sleeps on a 32-bit futex word: receivers on
// notEmpty, senders on notFull, both in the ring's wait line. Bit 0 of
// each word says that someone may be asleep on it, so a sender or receiver
// that publishes while nobody sleeps makes no system call. The sleep and
// wake-up protocol (see wait.go) has no lost wake-ups; model_test.go checks
// it over every interleaving of an abstract model of the code, and shows
// that broken variants of it are caught. Each sleep is also bounded (a
// quarter second), after which the waiter looks again and checks that the
// peer it waits for is alive. Waiters of one process on one ring are
// coalesced (internal/park), so thousands of waiting goroutines use one
// thread.
//
// # Waiting on several
//
// Select waits until any of several rings, queues, pipe ends or
// locks.Events is ready, like a select statement over channels:
//
//	for {
//		i, err := ring.Select(ctx, ring.RecvReady(jobs), ring.RecvReady(ctl), ring.EventSet(stop))
//		if err != nil {
//			return err
//		}
//		switch i {
//		case 0:
//			v, err := jobs.TryGet() // ErrEmpty if another consumer was faster: Select again
//			...
//		}
//	}
//
// It reports readiness and does not receive: the caller then makes a Try
// call, which another consumer of the same MPMC ring may have beaten. It
// uses the same protocol with one sleeper on several words: announce on
// each word (bit 0 of notEmpty or notFull, bit 1 of an Event's word),
// re-check every case, then futex_waitv (Linux 5.16) on all the words with
// the announced values; select_model_test.go checks it like the rest.
// Older kernels get a bounded polling fallback (see Select).
//
// # Processes that die
//
// A ring never makes the living wait forever for the dead.
//
//   - SPSC producer killed: a message is published by one atomic update of
//     tail after it is complete, so the receiver never sees a torn
//     message; a message being written is simply not sent. A receiver that
//     waits on an empty ring for a quarter second checks the pid of the
//     process that last sent (recorded in the ring) and, if it is gone,
//     returns ErrProducerDied. The ring still works; a new producer may
//     attach.
//   - SPSC consumer killed: a message it was reading and had not released
//     stays in the ring and is received again by the next consumer. A
//     sender blocked on a full ring whose last consumer is gone gets
//     ErrConsumerDied.
//   - MPMC producer killed between claiming a slot and publishing it: the
//     slot would stall every consumer at that position. Each claimant
//     records its pid in the slot, so a consumer that waited there a
//     quarter second finds the claimant gone and poisons the slot; the
//     consumer that receives it gets ErrProducerDied, once, and the ring
//     goes on. That message is lost. If the producer died in the few
//     instructions between its claim and recording itself, the slot is
//     poisoned after two seconds instead.
//   - MPMC consumer killed between claiming a message and releasing its
//     slot: a producer that waited a quarter second on that slot finds the
//     consumer gone and releases the slot; the message is lost (it was
//     received, but not handed on).
//   - A killed process never breaks the ring's positions or futex words;
//     at worst a waiter's bit stays set, costing the next sender or
//     receiver one wake-up call.
//
// # Memory
//
// The layouts (documented above SPSC and MPMC, precisely enough to write a
// compatible producer or consumer in C) are a published format: version 1,
// native byte order (little-endian on amd64 and arm64), 64-byte aligned,
// with fields written by different parties on separate 128-byte lines. Every
// position, sequence and length read from shared memory is read once per
// operation, checked against the geometry the handle read at attach time,
// and a value no correct peer can produce is reported as ErrCorrupt; no
// garbage makes a method panic or touch memory outside the ring.
//
// The race detector does not see synchronization through mapped memory:
// the rings tell it (internal/race), so data published through a ring in a
// segment is race-free to the detector as it is in fact. On memory from the
// Go heap it sees the atomics themselves.
//
// # Caveats
//
//   - A ring does not own its memory. Keep a shm.Segment open and
//     reachable for as long as a ring uses its bytes: a Segment that the
//     garbage collector finds unreachable is closed, and its memory
//     unmapped, by its cleanup.
//   - An SPSC ring has one sender and one receiver at a time; each may be
//     any goroutine of any process, but a handle keeps per-side caches, so
//     two goroutines must not send (or receive) through it at once. Two
//     concurrent senders are detected only sometimes (ErrCorrupt).
//   - Processes that share a ring must share a PID namespace, for the
//     liveness checks. A pid reused by a new process within the check
//     interval makes a dead peer look alive; the waiter then keeps waiting
//     (until its context ends).
//   - An MPMC claimant stopped (SIGSTOP, a debugger) for more than two
//     seconds right between its claim and recording itself is taken for
//     dead; when it resumes, its send fails with ErrCorrupt, but its write
//     may land in a slot that has been reused.
//   - Peek returns the message in shared memory: a hostile process could
//     change it while you read. Copy what must not change.
//   - A blocked call spins for up to about 50 µs before it sleeps: the
//     price of sub-microsecond hand-offs. A ring idle for longer costs no
//     CPU.
//   - Positions are 63-bit counters: a ring wraps after 2^63 messages.
package ring
