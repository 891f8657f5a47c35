package manager

import (
	"encoding/binary"

	"github.com/shmkit/shmkit/locks"
)

// The shared-memory backend ("shm:NAME"): segments, layouts, protocols.
//
// # Segments
//
// A manager called NAME is a set of POSIX shared-memory segments in
// /dev/shm; there is no server process:
//
//	NAME             directory page 0: the manager's header and the first
//	                 directory entries (Options.Size bytes, 1 MiB default)
//	NAME.d<k>        directory page k >= 1, added when the entries run out
//	NAME.<id>.<gen>  generation gen of object id (both decimal), for the
//	                 objects that store data: Dict, Namespace, List, Queue
//
// The first Open creates NAME (shm.Create is exclusive); a process that
// loses that race opens the segment and waits until the winner has stored
// the magic word, which it stores last. Lock, Event and Semaphore live in
// their directory entry and have no segment of their own. Names beginning
// with "NAME." belong to the manager: do not use them for other segments.
//
// All multi-byte fields are in the machine's native byte order
// (little-endian on amd64 and arm64); the magic numbers read "shmM" and
// "shmO" in memory there.
//
// # Directory
//
// Every directory page starts with a 128-byte header; only page 0's pages,
// destroyed and mu fields are used:
//
//	offset size field
//	 0     4    magic      0x4d6d6873 "shmM", stored last when the page is
//	                       initialized
//	 4     4    version    1
//	 8     8    pageSize   bytes of every page (page 0's size)
//	16     4    pages      number of published pages (atomic; page 0)
//	20     4    page       this page's index
//	24     4    creator    pid of the initializing process (a waiter takes
//	                       over the initialization if it died)
//	28     4    destroyed  1 once Destroy began (atomic; page 0)
//	32    16    mu         locks.Mutex: creating entries and pages, Destroy
//	48    80    (zero)
//
// then (pageSize-128)/256 entries of 256 bytes. The object id of entry i
// of page k is k*entriesPerPage + i + 1. An entry is never freed.
//
//	offset size field
//	  0    4    state    0 free, 1 ready: stored last, under the
//	                     directory lock, after every other field
//	  4    4    kind     1 Dict, 2 List, 3 Namespace, 4 Queue, 5 Lock,
//	                     6 Event, 7 Semaphore
//	  8    8    gen      the object's current generation: 0 none yet (an
//	                     empty object), 2^64-1 destroyed. Changed only under
//	                     mu, by one atomic store (the publication of a new
//	                     segment); read by everyone without the lock
//	 16    4    nameLen  bytes of name, 1..168
//	 20    4    (zero)
//	 24  168    name     the object's name
//	192   16    mu       locks.Mutex guarding the object's segment and gen
//	208   16    cond     locks.Cond with mu: a Queue's "not empty"
//	224   16    lock     locks.Mutex: the Lock object
//	240    8    sem      locks.Semaphore: the Semaphore object
//	248    4    event    locks.Event: the Event object
//	252    4    (zero)
//
// gen sits in the first cache line, away from the locks, so that lock-free
// readers do not share a line with writers' lock traffic.
//
// # Object segments
//
// A Dict, Namespace, List or Queue stores its data in segment
// NAME.<id>.<gen>: a 128-byte header, a table of 8-byte references, and an
// arena of entries.
//
//	offset size field
//	  0    4    magic     0x4f6d6873 "shmO", stored last
//	  4    4    version   1
//	  8    4    kind      as in the directory entry
//	 12    4    (zero)
//	 16    8    id        the object id
//	 24    8    gen       this segment's generation
//	 32    8    size      bytes of the segment
//	 40    8    slots     words in the table (a power of two for Dict,
//	                      Namespace and Queue)
//	 48    8    arenaOff  128 + 8*slots: where the arena begins
//	 56    8    bump      end of the arena's used part (writers only)
//	 64    8    count     Dict: live keys; List: length, the atomic
//	                      publication of Append and Pop
//	 72    8    used      Dict: table slots not empty (live + tombstones)
//	 80    8    head      Queue: position of the first item
//	 88    8    tail      Queue: position after the last item, the atomic
//	                      publication of Put
//	 96    8    garbage   bytes of dead entries in the arena
//	104   24    (zero)
//	128 8*slots table     references (below)
//	arenaOff    arena     entries, 8-aligned, up to size
//
// Fields from magic to arenaOff are fixed when the generation is built and
// never change; readers validate them once, when they map the segment, and
// keep their own copy.
//
// An entry is an 8-byte header, the value padded to 8 bytes, the key
// padded to 8 bytes (Lists and Queues have no key); pad8(n) is n rounded
// up to a multiple of 8:
//
//	offset           size          field
//	0                4             keyLen
//	4                4             valLen
//	8                pad8(valLen)  value; a value of 1 to 8 bytes is one
//	                               word, always read and written with
//	                               64-bit atomics
//	8+pad8(valLen)   pad8(keyLen)  key
//
// A reference is a 64-bit word: 0 empty, 1 tombstone (Dict), otherwise
// bits 0-39 the entry's offset in the segment divided by 8 and, in a Dict,
// bits 40-63 the top 24 bits of the key's hash. The Dict table is an open
// addressing hash table with linear probing: a key's first slot is hash &
// (slots-1). The hash is a word-at-a-time FNV-1a of the key followed by the
// splitmix64 finalizer (see shmHashKey). A List's table holds its elements'
// references in order; a Queue's is a ring indexed by position & (slots-1).
//
// # Writing: one atomic store publishes
//
// Every mutation runs under the entry's mu and is published by one atomic
// store, so that readers never need the lock and a writer killed at any
// instruction leaves the old or the new state, never a torn one:
//
//   - A new or replaced entry is written into free arena space at bump,
//     bump is advanced, and then the reference is stored in its table slot
//     (Dict Set, List Set) or the count/tail is stored (List Append, Queue
//     Put). The replaced entry becomes garbage.
//   - A value of 1 to 8 bytes replaced by one of the same length (an int64,
//     say) is overwritten in place with one atomic 64-bit store.
//   - Delete stores a tombstone (or 0 when the next slot is empty); Pop and
//     Get store the new count/head.
//   - Bookkeeping (bump, count, used, garbage) is updated around the
//     publication; it is only ever trusted by writers, and rebuilt after a
//     crash.
//
// Within a generation the arena is append-only (bump never moves back,
// except in a Queue once it is empty, whose entries are only read under
// the lock), so an entry, once published, is never overwritten except for
// the atomic small-value word: a reader that loaded a reference reads a
// consistent entry however late it gets there.
//
// # Growing
//
// When the table or the arena is full, the writer builds generation gen+1
// in a new segment, sized for twice the live data: it copies (and so
// compacts and rehashes) the live entries, then publishes the generation
// with one atomic store of the directory entry's gen, unlinks the old
// segment's name and drops its mapping. The old generation is frozen from
// then on (writers work on the generation named by gen, under mu): a
// reader still looking at it sees the state at the moment of the switch.
// Every operation compares gen with the generation it has mapped and
// remaps when they differ. Dict.Clear publishes an empty generation the
// same way.
//
// # Reading
//
// Get, List.At and List.Len take no lock: load gen, load the reference (or
// count) atomically, validate it, copy the entry out. Dict.Update reads the
// same way and runs its function outside the lock, then stores the result
// under the lock if the value is still the one it read (else it runs the
// function again, under the lock, and the object's next few Updates in this
// process run it under the lock straight away). Len, Items and all Queue
// operations take the lock for a consistent snapshot.
//
// Within a process no lock is taken either: a replaced generation stays
// mapped until the garbage collector finds no operation using it (see
// shm_mmap.go), so a lock-free read costs no atomic read-modify-write.
//
// # Crashes
//
// A process that dies holding an object's mu (SIGKILL included) leaves it
// owner-dead; the next writer's LockContext returns locks.ErrOwnerDead and
// repairs before continuing: it unlinks a half-built next generation
// (NAME.<id>.<gen+1>) and a previous generation left linked
// (NAME.<id>.<gen-1>), scans the current generation's table, validates
// every reference, recomputes count, used, garbage and bump (which only
// ever moves forward), and marks the lock consistent. Published data
// survives a crash: every value is the old one or the new one. An object
// whose memory was scribbled on reports ErrCorrupt from the operations that
// meet the damage; shared memory is validated before every use, never
// trusted.
//
// What does not survive a crash: a List.Append group not yet published
// (none of it is appended), the item a Queue Get had taken but not
// returned, the units a dead process had acquired from a Semaphore (as with
// POSIX semaphores), and an Event's waiters. A Lock whose holder died is
// acquired by the next Lock (the lost critical section is the user's to
// repair). The directory lock is repaired like an object's: a
// half-initialized entry stays free and a half-built page is removed.

const (
	shmDirMagic = 0x4d6d6873 // "shmM" in little-endian memory
	shmObjMagic = 0x4f6d6873 // "shmO"
	shmVersion  = 1

	shmDirHeaderSize  = 128
	shmDirEntrySize   = 256
	shmMaxObjectName  = 168
	shmDefaultDirSize = 1 << 20
	shmMinDirSize     = 4096
	shmMaxDirPages    = 1 << 16
	// shmMaxManagerName leaves room for ".<id>.<gen>" within shm.MaxNameLen.
	shmMaxManagerName = 200

	shmEntryFree  = 0
	shmEntryReady = 1

	shmGenNone      = 0
	shmGenDestroyed = ^uint64(0)

	shmObjHeaderSize  = 128
	shmObjHeaderWords = shmObjHeaderSize / 8
	shmInitialObjSize = 64 << 10
	shmMinSlots       = 16
	shmMaxObjSize     = 1 << 40

	shmRefEmpty     = 0
	shmRefTombstone = 1
	shmRefOffBits   = 40
	shmRefOffMask   = 1<<shmRefOffBits - 1

	shmEntryHeader = 8
)

// shmDirHeader is the first 128 bytes of every directory page (layout above).
type shmDirHeader struct {
	magic     uint32
	version   uint32
	pageSize  uint64
	pages     uint32
	page      uint32
	creator   uint32
	destroyed uint32
	mu        locks.Mutex
	_         [80]byte
}

// shmDirEntry is one named object (layout above).
type shmDirEntry struct {
	state   uint32
	kind    uint32
	gen     uint64
	nameLen uint32
	_       uint32
	name    [shmMaxObjectName]byte
	mu      locks.Mutex
	cond    locks.Cond
	lock    locks.Mutex
	sem     locks.Semaphore
	event   locks.Event
	_       uint32
}

// shmObjHeader is the first 128 bytes of an object segment (layout above).
type shmObjHeader struct {
	magic    uint32
	version  uint32
	kind     uint32
	_        uint32
	id       uint64
	gen      uint64
	size     uint64
	slots    uint64
	arenaOff uint64
	bump     uint64
	count    uint64
	used     uint64
	head     uint64
	tail     uint64
	garbage  uint64
	_        [24]byte
}

// shmHashKey is the Dict's hash, part of the layout. The key is read as
// 64-bit little-endian words (the last one zero-padded); starting from
// h = 14695981039346656037 ^ len(key), each word w does
// h = (h ^ w) * 1099511628211; h ^= h >> 32 (the FNV-1a step, a word at a
// time), and the splitmix64 finalizer ends it, so that the low bits (the
// first slot) and the high bits (the reference's tag) depend on every key
// byte. It is not collision resistant against chosen keys.
func shmHashKey(key []byte) uint64 {
	h := uint64(14695981039346656037) ^ uint64(len(key))
	for len(key) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(key)) * 1099511628211
		h ^= h >> 32
		key = key[8:]
	}
	if len(key) > 0 {
		var w uint64
		for i, c := range key {
			w |= uint64(c) << (8 * i)
		}
		h = (h ^ w) * 1099511628211
		h ^= h >> 32
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func shmPad8(n uint64) uint64 { return (n + 7) &^ 7 }

// shmEntrySize is the arena bytes of an entry with these key and value sizes.
func shmEntrySize(keyLen, valLen int) uint64 {
	return shmEntryHeader + shmPad8(uint64(valLen)) + shmPad8(uint64(keyLen))
}

// shmHasSegment reports whether objects of kind k store data in segments.
func shmHasSegment(k kind) bool {
	return k == kindDict || k == kindNamespace || k == kindList || k == kindQueue
}

// shmHook, when a test sets it (before any use), is called at named points
// inside mutations, where the test may kill the process.
var shmHook = func(point string) {}
