package manager

import "context"

// backend stores a manager's objects. Keys and values arrive encoded: the
// generic front-ends (Dict, List, ...) own the codecs. Every method takes
// the object's name, already registered with open under its kind.
//
// A backend is safe for concurrent use by the goroutines of one process;
// the objects it stores are shared by every process that opens the same
// manager.
type backend interface {
	// open registers obj as an object of kind (creating it if absent) and
	// fails with ErrKind if the name holds another kind. n is the initial
	// count of a semaphore, ignored otherwise.
	open(ctx context.Context, k kind, obj string, n int) error

	dictGet(ctx context.Context, obj string, key []byte) ([]byte, bool, error)
	dictSet(ctx context.Context, obj string, key, val []byte) error
	dictDelete(ctx context.Context, obj string, key []byte) (bool, error)
	// dictUpdate atomically replaces key's value with fn's result, or
	// deletes the key when fn returns keep == false. fn may run more than
	// once (optimistic backends retry); it must not have side effects.
	dictUpdate(ctx context.Context, obj string, key []byte, fn func(old []byte, found bool) (val []byte, keep bool)) error
	dictLen(ctx context.Context, obj string) (int, error)
	// dictItems calls yield for every key and value, in no order.
	dictItems(ctx context.Context, obj string, yield func(key, val []byte) error) error
	dictClear(ctx context.Context, obj string) error

	listAppend(ctx context.Context, obj string, vals [][]byte) error
	listAt(ctx context.Context, obj string, i int) ([]byte, error) // ErrIndex
	listSet(ctx context.Context, obj string, i int, val []byte) error
	listPop(ctx context.Context, obj string) ([]byte, error) // the last; ErrIndex when empty
	listLen(ctx context.Context, obj string) (int, error)
	listItems(ctx context.Context, obj string, yield func(val []byte) error) error

	queuePut(ctx context.Context, obj string, val []byte) error
	queueGet(ctx context.Context, obj string) ([]byte, error) // blocks until an item or ctx ends
	queueLen(ctx context.Context, obj string) (int, error)

	lock(ctx context.Context, obj string) error
	unlock(ctx context.Context, obj string) error

	eventSet(ctx context.Context, obj string) error
	eventClear(ctx context.Context, obj string) error
	eventIsSet(ctx context.Context, obj string) (bool, error)
	eventWait(ctx context.Context, obj string) error

	semAcquire(ctx context.Context, obj string) error
	semRelease(ctx context.Context, obj string) error

	// rawValues reports whether fixed-size pointer-free values should be
	// stored as raw bytes (shared memory) rather than through the codec.
	rawValues() bool

	close() error
	destroy(ctx context.Context) error
}

// kind is an object's type, recorded with its name.
type kind uint8

const (
	kindDict kind = iota + 1
	kindList
	kindNamespace
	kindQueue
	kindLock
	kindEvent
	kindSemaphore
)

func (k kind) String() string {
	switch k {
	case kindDict:
		return "Dict"
	case kindList:
		return "List"
	case kindNamespace:
		return "Namespace"
	case kindQueue:
		return "Queue"
	case kindLock:
		return "Lock"
	case kindEvent:
		return "Event"
	case kindSemaphore:
		return "Semaphore"
	}
	return "kind(" + string('0'+byte(k)) + ")"
}
