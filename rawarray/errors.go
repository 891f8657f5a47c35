package rawarray

import "errors"

// Errors returned by this package. Each is wrapped in a message that starts
// with "rawarray:" and names the offset, kind, type or length involved;
// match them with [errors.Is]. Errors from packages shm and ctypes are
// wrapped too, so they also match their own sentinels (fs.ErrNotExist for a
// missing segment name, ctypes.ErrUnknownCode for an unknown type code).
var (
	// ErrBadMagic: the bytes at the offset do not start with an object
	// header: nothing was placed there, or the offset is wrong.
	ErrBadMagic = errors.New("rawarray: no object header (bad magic)")

	// ErrVersion: the header was written by a layout version this package
	// does not read.
	ErrVersion = errors.New("rawarray: unsupported layout version")

	// ErrKind: the header, or the reference, describes another kind of
	// object (a RawArray where a Value was asked for, say).
	ErrKind = errors.New("rawarray: wrong kind of object")

	// ErrType: a type code that is unknown, or that names a C type whose Go
	// representation is not the element type T (code "d" for a Value[int32],
	// say). See CheckCode for the rule.
	ErrType = errors.New("rawarray: element type mismatch")

	// ErrBounds: the offset is negative, or the object (its header, or its
	// elements as the header counts them) does not fit in the memory.
	ErrBounds = errors.New("rawarray: object out of bounds")

	// ErrMisaligned: the offset, or the address it names, is not a multiple
	// of Align.
	ErrMisaligned = errors.New("rawarray: misaligned offset")

	// ErrCorrupt: a header whose fields contradict each other or the layout
	// version (a data offset, element size or lock kind no writer of this
	// version produces, nonzero reserved bytes, a value whose length is not
	// 1): memory another process scribbled on. For a ShareableList: a
	// negative count, decreasing offsets, a slot larger than any format
	// describes, or an item whose format or code no writer produces, whose
	// format is larger than its slot, or whose str is not valid UTF-8.
	ErrCorrupt = errors.New("rawarray: corrupt object header")

	// ErrLength: an array length that is negative or whose size in bytes
	// does not fit in an int.
	ErrLength = errors.New("rawarray: invalid array length")

	// ErrRef: a reference that names no segment, cannot be decoded, or
	// disagrees with the object found where it points.
	ErrRef = errors.New("rawarray: invalid reference")

	// ErrNoRef: the object lives in memory that is not a *shm.Segment, so
	// no other process can be told where it is.
	ErrNoRef = errors.New("rawarray: object is not in a shared segment")

	// ErrReadOnly: the memory is a read-only mapping; objects are written
	// to (their locks, at least) and cannot live there.
	ErrReadOnly = errors.New("rawarray: memory is read-only")

	// ErrOptions: Options fields that contradict each other (a segment name
	// together with caller's memory, an offset without caller's memory).
	ErrOptions = errors.New("rawarray: conflicting options")

	// ErrClosed: the object, or the segment it lives in, was closed.
	ErrClosed = errors.New("rawarray: closed")

	// ErrIndex: a ShareableList index outside [-Len(), Len()) (Python's
	// IndexError).
	ErrIndex = errors.New("rawarray: index out of range")

	// ErrTooLarge: a ShareableList string or []byte longer than the slot it
	// is written to (Python's ValueError "bytes/str item exceeds available
	// storage"), or, when a list is made, longer than any slot can be
	// (9,999,991 bytes).
	ErrTooLarge = errors.New("rawarray: item exceeds its slot")

	// ErrItem: a value a ShareableList cannot hold: a Go type other than
	// int64, float64, bool, string, []byte and nil (and the integer types
	// and float32, which convert), an unsigned integer above
	// math.MaxInt64, or a string that is not valid UTF-8.
	ErrItem = errors.New("rawarray: unsupported ShareableList item")
)
