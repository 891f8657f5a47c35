package ctypes

import "errors"

// Errors returned by this package. Each is wrapped with a message that starts
// with "ctypes:" and names the type, code or field and the numbers involved;
// match them with [errors.Is].
var (
	// ErrUnknownCode: a type code that is not one of c b B h H i I l L q Q f d ?.
	ErrUnknownCode = errors.New("unknown type code")

	// ErrPointers: the Go type holds Go pointers (pointers, unsafe.Pointer,
	// slices, maps, strings, interfaces, chans or funcs, at any depth), so it
	// cannot live in memory the garbage collector does not manage.
	ErrPointers = errors.New("type holds Go pointers")

	// ErrMisaligned: the memory does not start at a multiple of the type's
	// alignment.
	ErrMisaligned = errors.New("memory misaligned for type")

	// ErrShort: the memory is shorter than the value or values asked for,
	// including counts whose byte size does not fit in an int.
	ErrShort = errors.New("memory too short")

	// ErrNegative: a negative element count.
	ErrNegative = errors.New("negative count")

	// ErrLayout: a struct layout description that C could not declare (a
	// field without a name, a duplicate name, both or neither of a type code
	// and a nested struct, a negative array length, a size beyond int).
	ErrLayout = errors.New("invalid layout")

	// ErrUnsupported: a Go type with no C equivalent in this package (not a
	// struct where one is needed, complex numbers).
	ErrUnsupported = errors.New("type has no C layout")

	// ErrMismatch: a Go struct does not have the memory layout of a C layout.
	ErrMismatch = errors.New("layout mismatch")

	// ErrFormat: a Python struct format string that is malformed or that
	// this package does not support.
	ErrFormat = errors.New("invalid struct format")
)
