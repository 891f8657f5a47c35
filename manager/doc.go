// Package manager shares named objects — Dict, List, Namespace, Queue,
// Lock, Event, Semaphore — between processes, as Python's
// multiprocessing.Manager does, but without a server process on one host
// and through Redis across hosts. The same program runs on either backend;
// only the URL changes.
//
// # Basics
//
//	m, err := manager.Open(ctx, "shm:inventory", nil) // or "redis://host:6379/0"
//	defer m.Close()
//	d, err := manager.OpenDict[string, int64](ctx, m, "stock")
//	err = d.Update(ctx, "apples", func(n int64, _ bool) (int64, bool) { return n + 1, true })
//
// Objects are opened by name: the first Open of a name creates the object,
// every later one (in any process) gets the same object. A name holds one
// kind of object (ErrKind). Destroy removes the manager and everything in
// it; Close releases this process's handles and leaves the objects.
//
// # Backends
//
// "shm:NAME" keeps the objects in shared-memory segments on this host
// (NAME, NAME.d<k> for the directory, NAME.<id>.<gen> for each object's
// data). There is no server: every operation is a few memory accesses,
// under the object's robust lock for writes, without any lock for reads.
// Objects grow as they fill; other processes follow the new generation on
// their next operation. See the layout documentation in shm_layout.go.
//
// "redis://[:PASSWORD@]HOST:PORT/DB[?name=NAME]" and "rediss://…" keep the
// objects in a Redis server (6.2 or later): Dict and Namespace as hashes,
// List and Queue as lists, Lock as a leased key with a fencing number. All
// keys of a manager share one hash tag, so Redis Cluster works; pass your
// own go-redis client in Options.Redis for a cluster or sentinel setup. See
// the notes in redis_backend.go.
//
// # Values
//
// On shared memory, fixed-size pointer-free values (numbers, bools, arrays
// and structs of them) are stored raw; other values go through the
// manager's codec, encoding/gob by default. On Redis every value goes
// through the codec, encoding/json by default, so that programs in other
// languages can read what Go wrote. Options.Codec replaces either default.
// Dictionary keys: strings as they are on both; integers as 8 bytes,
// little endian, in shared memory and in decimal on Redis (where other
// languages read them); other keys as JSON.
//
// # What survives a crashed process
//
// Shared memory: everything published. A process killed in the middle of
// any mutation leaves each value old or new, never torn; the next writer
// finds the object's robust lock owner-dead, repairs the bookkeeping and
// proceeds. Lost with the process: an item its Queue.Get had taken, the
// Semaphore units it held, and a List.Append group it had not published. A
// Lock whose holder died goes to the next Lock.
//
// Redis: every call that returned. A Lock its holder held frees when the
// lease runs out (Options.LockLease, 10 s by default); a late Unlock then
// returns ErrNotHeld and cannot release another holder's lock. An item its
// Queue.Get had popped and the Semaphore units it held are lost.
//
// # Caveats
//
//   - Dict.Update's function may run more than once (both backends retry
//     when another process changed the value first); it must have no side
//     effects.
//   - Shared-memory objects are only as trustworthy as the processes that
//     map them: garbage written into a segment is reported as ErrCorrupt,
//     never a crash, but the data it replaced is gone.
package manager
