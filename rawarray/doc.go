// Package rawarray provides shared values and arrays of scalars — Python's
// multiprocessing.sharedctypes (Value, RawValue, Array, RawArray) for Go
// processes, laid out so that C and Python can read them too — and
// Python's shared_memory.ShareableList, in Python's own layout.
//
// # Basics
//
// Four kinds of object, each generic in its element type T, any
// ctypes.Scalar (sized integers, int, uint, uintptr, float32, float64,
// bool):
//
//   - [Value]: one T and a lock. Load, Store, Lock, Unlock.
//   - [RawValue]: one T. Load, Store.
//   - [Array]: n T and a lock. Len, At, Set, Slice, Lock, Unlock.
//   - [RawArray]: n T. Len, At, Set, Slice.
//
// Slice is a zero-copy view of the elements in shared memory.
//
// Every object can live in a segment of its own or in the caller's memory:
//
//   - NewValue, NewArray, ... make a new anonymous (memfd) segment that the
//     object owns; Close releases it. NewValueOptions and friends can name
//     the segment instead (Options.Name), so other processes open it by
//     name.
//   - PlaceValue, PlaceArray, ... write the object at an offset of memory
//     the caller owns, usually a *shm.Segment holding several objects (size
//     them with ValueSize, RawValueSize, ArraySize, RawArraySize; place them
//     at multiples of Align). AttachValue, AttachArray, ... find them again,
//     in this process or another, validating the header; Inspect describes
//     whatever object is at an offset.
//
// The New…Code constructors record a Python type code ("i", "d", "l", ...),
// checked against T (CheckCode): NewArrayCode[int32]("i", 10) is Python's
// Array('i', 10). Without one, T's own code is recorded (ctypes.TypeOf).
//
// # Sharing between processes
//
// An object in a segment has a [Ref]: kind, type code, element size,
// length, offset and the segment's name, or for an anonymous segment the
// number of an inherited descriptor. A Ref is plain data (JSON, or
// MarshalBinary); the receiving process calls OpenValue, OpenArray, ... to
// map the segment and attach the object, and the header it finds must
// match the Ref.
//
//	// parent
//	v, _ := rawarray.NewValueOptions[int64](0, &rawarray.Options{Name: "counter"})
//	ref, _ := v.Ref()
//	arg, _ := json.Marshal(ref) // pass to the child
//
//	// child
//	var ref rawarray.Ref
//	_ = json.Unmarshal(arg, &ref)
//	v, _ := rawarray.OpenValue[int64](ref)
//	v.Lock()
//	v.Store(v.Load() + 1)
//	v.Unlock()
//
// An anonymous segment travels as a descriptor: File returns one to pass
// (exec.Cmd.ExtraFiles), and the receiver sets Ref.Fd to its number there.
//
// # Locking
//
// The lock of a Value or Array is a robust, process-shared locks.Mutex:
// when a process dies holding it, the next locker gets it (with
// locks.ErrOwnerDead through Mutex().LockContext). Load, Store, At and Set
// are single atomic accesses and never take the lock, so they may be
// called inside Lock/Unlock — the way to make a read-modify-write atomic —
// as well as outside it.
//
// This differs from Python on purpose. Python's Value and Array are guarded
// by a recursive lock (RLock) that every .value access takes, which is why
// `with v.get_lock(): v.value += 1` does not deadlock. Here Load and Store
// do not lock at all: they are single atomic accesses, and the Mutex is
// there for read-modify-write sequences. That keeps the idiom working at
// tens of nanoseconds an increment (BenchmarkValue,
// BenchmarkValueIncrement2Proc) without a recursive lock. What is lost is
// that a Store outside the lock does not wait for a locked update in
// progress: it can land between that update's Load and Store and be
// overwritten. Writers that compete with locked updates must lock too. (A
// recursive lock, locks.RMutex, is 32 bytes: it would need a new layout
// version with a larger lock slot.)
//
// Raw objects have no lock. A RawValue's Load and Store are still atomic;
// a RawArray's At, Set and Slice are plain memory accesses.
//
// # Memory layout
//
// The layout is a published format (version 1), the same on every
// platform up to byte order (native). Each object starts at a multiple of
// 8 with a 32-byte header:
//
//	offset size field
//	0      4    magic     0x41524853 ("SHRA" on little-endian machines)
//	4      2    version   1
//	6      1    kind      1 Value, 2 RawValue, 3 Array, 4 RawArray
//	7      1    code      Python type code, ASCII
//	8      2    elemSize  element size in bytes
//	10     1    lockKind  0 none, 1 locks.Mutex
//	11     1    flags     reserved, zero
//	12     4    dataOff   offset of element 0 from the header: 56 or 32
//	16     8    length    element count, 1 for values
//	24     8    reserved  zero
//
// Value and Array continue with a 16-byte locks.Mutex at offset 32 and 8
// reserved bytes; their elements start at offset 56. RawValue and RawArray
// elements start at offset 32. A value occupies an 8-byte slot; an array's
// elements are a C array padded to a multiple of 8 bytes. So a Value is 64
// bytes, a RawValue 40, an Array of n elements of size s 56+roundup(n*s, 8)
// and a RawArray 32+roundup(n*s, 8).
//
// Element sizes are the platform's native C sizes (Python's
// struct.calcsize(code), not the "=" standard sizes: a long is 8 bytes on
// 64-bit Linux). From Python, with buf a SharedMemory's buf and off the
// object's offset:
//
//	magic, ver, kind, code, size, lk, _, data, n, _ = struct.unpack_from("=IHBcHBBIQQ", buf, off)
//	elems = buf[off + data : off + data + n * size].cast(code.decode())
//
// # ShareableList
//
// [ShareableList] is Python's multiprocessing.shared_memory.ShareableList,
// byte for byte: a fixed-length list of int64, float64, bool, string,
// []byte and nil items (Python's int, float, bool, str, bytes and None)
// in a named segment, read and written by Go and Python processes alike.
//
//	l, _ := rawarray.NewShareableList("settings", []any{"fast", 8, 0.5, true, nil})
//	_ = l.Set(1, 16)
//	v, _ := l.Get(-1) // nil: negative indices count from the end
//
// and in Python, ShareableList(name="settings")[1] is 16.
//
// OpenShareableList opens a list made by either language. The list keeps
// Python's layout and rules, documented on the type: each item has a slot
// sized when the list is made, a str or bytes longer than its slot is
// ErrTooLarge, an item may change type within its slot, and trailing NUL
// bytes of a str or bytes are lost. A bad index is ErrIndex, a value no
// Python type matches ErrItem. Memory that holds no valid list is
// ErrBounds or ErrCorrupt, never a panic. Unlike the objects above, a
// ShareableList has no header of its own (Python's layout has none) and
// no lock: PlaceShareableList and AttachShareableList put one in, and find
// it in, memory the caller provides.
//
// # Caveats
//
//   - Close unmaps an owned segment: slices from Slice, and the Mutex
//     pointer, become invalid, and touching them crashes the process. Close
//     must not race with other methods. Objects placed in the caller's
//     memory need that memory mapped for as long as they are used.
//   - A slice from Slice does not keep its object reachable: an object
//     that owns its segment and becomes unreachable is unmapped by the
//     garbage collector (package shm's safety net). Keep the object, and
//     Close it after the last use of its slices.
//   - Do not Close an object, or unmap its memory, while this process holds
//     its lock: the kernel reads held locks at process exit (see package
//     locks).
//   - A named segment stays in /dev/shm until someone calls Unlink (or
//     shm.Unlink), whatever happens to the processes.
//   - Memory written by another process is untrusted: the header is
//     validated once, when the object is attached, and the handle keeps its
//     own copy of the geometry, so a peer that rewrites the header later
//     cannot make this process index out of bounds. A bool element holding a
//     byte other than 0 or 1 reads as true through Load and At; through
//     Slice it is whatever the bytes are.
//   - Python and C processes can read and write the elements but do not
//     speak the lock's futex protocol: share raw objects with them, or
//     order accesses by other means.
//   - The race detector does not see accesses to mapped segments; the
//     lock's synchronization is annotated for it (see package locks), but
//     plain accesses to Slice from several processes are not checked.
package rawarray
