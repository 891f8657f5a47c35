package ring

import (
	"errors"
	"fmt"
	"io"
)

// Errors returned by this package, matched with errors.Is. Each is
// allocated once: no operation allocates to report one.
var (
	// ErrFull: TrySend, TrySendBatch or TryReserve found no free slot.
	ErrFull = errors.New("ring: full")
	// ErrEmpty: TryRecv, TryRecvBatch or TryPeek found no message.
	ErrEmpty = errors.New("ring: empty")
	// ErrClosed: the ring was closed. Senders get it at once; receivers
	// get it once every message sent before Close has been received.
	ErrClosed = errors.New("ring: closed")
	// ErrTooLarge: a message is longer than the ring's slot size.
	ErrTooLarge = errors.New("ring: message larger than the slot size")
	// ErrShortBuffer: the next message does not fit in the buffer given to
	// a receive call. The message stays in the ring; the call returns its
	// length, so the caller can retry with a buffer that large. It also
	// matches io.ErrShortBuffer.
	ErrShortBuffer = fmt.Errorf("ring: buffer shorter than the message: %w", io.ErrShortBuffer)
	// ErrProducerDied: a sending process died. From an SPSC receive: the
	// ring is empty and the process that last sent on it no longer exists.
	// From an MPMC receive: a producer died between claiming a slot and
	// publishing its message; that message is lost and its slot skipped.
	// Either way the ring keeps working.
	ErrProducerDied = errors.New("ring: producer died")
	// ErrConsumerDied: from an SPSC send, the ring is full and the process
	// that last received from it no longer exists. The ring keeps working.
	ErrConsumerDied = errors.New("ring: consumer died")

	// ErrBadMagic: the memory does not start with a ring header (never
	// initialized, or not a ring).
	ErrBadMagic = errors.New("ring: bad magic: memory holds no ring")
	// ErrVersion: the header's layout version is not one this package
	// implements.
	ErrVersion = errors.New("ring: unsupported layout version")
	// ErrKind: the header describes the other kind of ring (an MPMC ring
	// attached as SPSC, or the reverse).
	ErrKind = errors.New("ring: wrong ring kind")
	// ErrGeometry: the slot count or slot size is out of range (to New… or
	// …Size), or the header's geometry fields disagree with each other (to
	// Attach…).
	ErrGeometry = errors.New("ring: invalid geometry")
	// ErrShortMemory: the memory is shorter than the ring it must hold.
	ErrShortMemory = errors.New("ring: memory too short for the ring")
	// ErrAlignment: the memory does not start on a 64-byte boundary.
	ErrAlignment = errors.New("ring: memory not 64-byte aligned")
	// ErrCorrupt: a position, sequence number or length in shared memory
	// holds a value no correct use can produce: another process wrote
	// garbage, or violated the single-producer/single-consumer contract of
	// an SPSC ring. A receive that finds a corrupt message consumes it, so
	// the ring can go on.
	ErrCorrupt = errors.New("ring: invalid state in shared memory")
)
