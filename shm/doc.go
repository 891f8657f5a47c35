// Package shm creates, opens and maps POSIX shared-memory segments.
//
// # Basics
//
// A named segment lives in /dev/shm under its name, the same namespace as C's
// shm_open and Python's multiprocessing.shared_memory.SharedMemory, so a
// segment made by any of them is opened by the others and shows the same
// bytes: shm adds no header of its own. Create makes a new zero-filled
// segment (exclusively: a taken name satisfies errors.Is(err, fs.ErrExist)),
// Open attaches an existing one (fs.ErrNotExist when absent), Unlink removes
// the name while mappings stay valid until closed.
//
// Anonymous makes a nameless memfd-backed segment, sealed against shrinking,
// that other processes map from an inherited descriptor (Segment.Dup and
// FromFd).
//
//	seg, err := shm.Create("counter", 4096, nil)
//	if err != nil { ... }
//	defer seg.Unlink()
//	defer seg.Close()
//	b := seg.Bytes() // the whole mapping
//
// # Caveats
//
//   - Bytes is shared with every process that maps the segment. Plain reads
//     and writes race with theirs; synchronize with package locks, atomics or
//     the rings, and treat what other processes wrote as untrusted input.
//   - A segment's memory is reserved when it is created (Options.NoReserve
//     turns that off), so a full /dev/shm is an error from Create rather
//     than a SIGBUS on first touch. Segments created elsewhere without
//     reservation (Python's, for one) can still SIGBUS when the file system
//     fills up.
//   - Close unmaps: any slice or pointer derived from Bytes is invalid
//     afterwards, and touching it crashes the process. A Segment left
//     unreachable is closed by the garbage collector (a safety net, not a
//     substitute for Close), and slices of Bytes do not keep it reachable:
//     hold the Segment for as long as its memory is used.
//   - A segment is removed from /dev/shm only by Unlink (or a reboot), not by
//     Close and not when the process exits.
package shm
