// Package ctypes describes C data in Go terms and gives checked, typed views
// of raw memory, so Go, C and Python can share structs in shared memory.
//
// # Basics
//
// [Lookup] maps a Python array/struct type code (c b B h H i I l L q Q f d ?)
// to a [Type]: its C name and its size and alignment on the running platform,
// with the Go type of the same representation. [TypeOf] goes the other way,
// from a Go [Scalar] type to its C type.
//
// [View] and [Slice] turn bytes, typically part of a shared memory segment,
// into a *T or a []T without copying. They check what the Go runtime and the
// hardware need: T holds no Go pointers, the memory is long enough, and it is
// aligned for T. Each failure is its own sentinel error, matched with
// [errors.Is]:
//
//	rec, err := ctypes.View[Record](seg.Bytes()[off:])
//	if err != nil {
//		return err // ErrPointers, ErrShort or ErrMisaligned
//	}
//	rec.Count++
//
// [StructLayout] computes the layout of a C struct the way a C compiler does
// (fields aligned, trailing padding), from fields given by type code, as fixed
// arrays, or as nested structs; [ParseFormat] does the same for a Python
// struct format string such as "@iq16s?". [LayoutOf] describes a Go struct,
// and [CheckLayout] reports whether a Go struct matches a C layout field by
// field, so a mismatch is a test failure instead of corrupt data. A
// [Layout] prints as a C struct definition with offsets in comments.
//
// The package targets 64-bit Linux (LP64: amd64, arm64): there C long is 8
// bytes, and every size and alignment here is the one gcc uses, which the
// tests check when gcc is installed.
//
// # Caveats
//
//   - A view is plain memory. Nothing synchronizes access to it: when other
//     goroutines or processes use the same bytes, guard them with a lock from
//     package locks or use sync/atomic on suitably aligned fields.
//   - A []byte is only guaranteed to be byte-aligned (a small or
//     stack-allocated buffer can start anywhere); shared memory segments are
//     page-aligned. Place values at offsets that are multiples of their
//     alignment, and use [AlignOffset] to align a buffer of unknown origin.
//   - The race detector does not see accesses to mmap'd memory; test
//     concurrent code on heap-backed memory too.
//   - The memory must stay mapped while a view or slice from it is in use:
//     after the segment is closed (unmapped), touching a view faults.
//     Keep the segment alive, and drop views before closing it.
//   - Values are read and written in the platform's native byte order, as C
//     and Python's "@" formats do on the same machine; memory shared with
//     another architecture needs explicit encoding.
//   - Memory written by another process is untrusted input: a bool field can
//     hold a byte other than 0 or 1, a length field any number. Validate what
//     you read before you use it to index or allocate.
//   - Go int, uint and uintptr are 8 bytes here but not on every platform;
//     published layouts should use sized types.
package ctypes
