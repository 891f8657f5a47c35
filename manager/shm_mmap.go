package manager

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"

	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// Mapping lifetimes.
//
// Readers take no lock, so nothing tells this process when the last reader
// of a replaced generation is done with it. The garbage collector does:
// each generation and each directory page is mapped by a mapping of its
// own (shmMmap), owned by one Go object (a shmMap or shmDirPage) that
// unmaps it through runtime.AddCleanup once unreachable. Every operation
// holds the objects whose memory it touches and ends with runtime.KeepAlive
// on them, since pointers into a mapping are invisible to the collector.
// Descriptors are closed as soon as the mapping exists, so a Manager holds
// none; Close drops the Manager's references and the mappings go at the
// next collection after the operations still running (in other goroutines)
// return, which also makes Close safe to call while they run.
//
// A lock-free read thus costs no atomic read-modify-write at all. Counting
// the operations in flight instead (a sync.RWMutex per object) costs two,
// about 16 ns on a 2-CPU VM: as much as a whole lookup in a Go map under a
// sync.Mutex. The price is that a replaced generation's memory (its tmpfs
// pages, already unlinked) returns to the system at the next collection,
// not at once.

// shmMmap maps all of seg with a mapping of its own and closes seg (its
// descriptor and its mapping).
func shmMmap(seg *shm.Segment) ([]byte, error) {
	defer seg.Close()
	size := seg.Size()
	if size <= 0 || size%8 != 0 || uint64(size) > shmMaxObjSize {
		return nil, shmCorruptf("segment %q of %d bytes", seg.Name(), size)
	}
	mem, err := unix.Mmap(seg.Fd(), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("manager: mmap %q: %w", seg.Name(), err)
	}
	return mem, nil
}

// shmUnmapWhenUnreachable makes the collector unmap mem once owner is
// unreachable.
func shmUnmapWhenUnreachable[T any](owner *T, mem []byte) {
	runtime.AddCleanup(owner, func(mem []byte) { _ = unix.Munmap(mem) }, mem)
}

// shmOpenMap maps segment name, which must hold generation gen of object
// id of kind k.
func shmOpenMap(name string, k kind, id, gen uint64) (*shmMap, error) {
	seg, err := shm.Open(name, nil)
	if err != nil {
		return nil, err
	}
	mem, err := shmMmap(seg)
	if err != nil {
		return nil, err
	}
	m, err := shmAttachObj(mem, k, id, gen)
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	shmUnmapWhenUnreachable(m, mem)
	return m, nil
}

// shmCreateMap creates segment name of size bytes holding an empty
// generation gen of object id, replacing a stale segment of that name.
func shmCreateMap(name string, size int64, k kind, id, gen, slots uint64) (*shmMap, error) {
	seg, err := shm.Create(name, size, nil)
	if errors.Is(err, fs.ErrExist) { // half-built by a writer that died
		_ = shm.Unlink(name)
		seg, err = shm.Create(name, size, nil)
	}
	if err != nil {
		return nil, err
	}
	mem, err := shmMmap(seg)
	if err == nil {
		var m *shmMap
		if m, err = shmInitObj(mem, k, id, gen, slots); err == nil {
			shmUnmapWhenUnreachable(m, mem)
			return m, nil
		}
		_ = unix.Munmap(mem)
	}
	_ = shm.Unlink(name)
	return nil, err
}

// shmPageOf maps seg with a mapping of its own (closing seg) and returns
// the directory page that attach finds (or makes) in it.
func shmPageOf(seg *shm.Segment, attach func(mem []byte) (*shmDirPage, error)) (*shmDirPage, error) {
	mem, err := shmMmap(seg)
	if err != nil {
		return nil, err
	}
	p, err := attach(mem)
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	shmUnmapWhenUnreachable(p, mem)
	return p, nil
}
