package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// shmDirPage is one mapped directory page. It owns its mapping (see
// shm_mmap.go).
type shmDirPage struct {
	mem     []byte
	hdr     *shmDirHeader
	entries []shmDirEntry
}

// shmAttachPage validates the directory page image mem, page index k.
func shmAttachPage(mem []byte, k int) (*shmDirPage, error) {
	if len(mem) < shmMinDirSize || len(mem)%8 != 0 {
		return nil, shmCorruptf("directory page of %d bytes", len(mem))
	}
	hdr, err := ctypes.View[shmDirHeader](mem)
	if err != nil {
		return nil, shmCorruptf("directory header: %v", err)
	}
	switch {
	case atomic.LoadUint32(&hdr.magic) != shmDirMagic:
		return nil, shmCorruptf("directory page %d: bad magic %#x (not a manager segment)", k, hdr.magic)
	case hdr.version != shmVersion:
		return nil, shmCorruptf("directory page %d: layout version %d, want %d", k, hdr.version, shmVersion)
	case hdr.pageSize != uint64(len(mem)):
		return nil, shmCorruptf("directory page %d of %d bytes says %d", k, len(mem), hdr.pageSize)
	case hdr.page != uint32(k):
		return nil, shmCorruptf("directory page %d says it is page %d", k, hdr.page)
	}
	n := (len(mem) - shmDirHeaderSize) / shmDirEntrySize
	entries, err := ctypes.Slice[shmDirEntry](mem[shmDirHeaderSize:], n)
	if err != nil {
		return nil, shmCorruptf("directory entries: %v", err)
	}
	return &shmDirPage{mem: mem, hdr: hdr, entries: entries}, nil
}

// shmInitPage writes the header of directory page k into the zero-filled
// mem, magic last, and attaches it.
func shmInitPage(mem []byte, k int) (*shmDirPage, error) {
	hdr, err := ctypes.View[shmDirHeader](mem)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(&hdr.creator, uint32(os.Getpid()))
	hdr.version = shmVersion
	hdr.pageSize = uint64(len(mem))
	hdr.page = uint32(k)
	if k == 0 {
		atomic.StoreUint32(&hdr.pages, 1)
	}
	atomic.StoreUint32(&hdr.magic, shmDirMagic)
	return shmAttachPage(mem, k)
}

// clearEntry zeroes entry i before it is filled in.
func (p *shmDirPage) clearEntry(i int) {
	off := shmDirHeaderSize + i*shmDirEntrySize
	clear(p.mem[off : off+shmDirEntrySize])
}

// named reports whether the entry is called name.
func (e *shmDirEntry) named(name string) bool {
	n := e.nameLen
	return n > 0 && n <= shmMaxObjectName && string(e.name[:n]) == name
}

// shmOpenDirectory creates directory page 0 called name, or attaches it if
// it exists. Of processes racing to create it, shm.Create lets one win;
// the others open the segment and wait for the winner to store the magic
// word, which it does last. If the winner died before that, a waiter
// takes the initialization over.
func shmOpenDirectory(ctx context.Context, name string, size int64) (*shmDirPage, error) {
	backoff := 20 * time.Microsecond
	for {
		seg, err := shm.Create(name, size, nil)
		if err == nil {
			p, err := shmPageOf(seg, func(mem []byte) (*shmDirPage, error) { return shmInitPage(mem, 0) })
			if err != nil {
				_ = shm.Unlink(name)
				return nil, err
			}
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("manager: shm:%s: %w", name, err)
		}
		seg, err = shm.Open(name, nil)
		switch {
		case err == nil:
			p, err := shmPageOf(seg, func(mem []byte) (*shmDirPage, error) { return shmAwaitPage(ctx, mem) })
			if err != nil {
				return nil, fmt.Errorf("manager: shm:%s: %w", name, err)
			}
			return p, nil
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, shm.ErrInvalidSize):
			// The creator is between creating the name and sizing it,
			// or it failed and removed the name: look again.
		default:
			return nil, fmt.Errorf("manager: shm:%s: %w", name, err)
		}
		if err := shmSleep(ctx, &backoff); err != nil {
			return nil, err
		}
	}
}

// shmAwaitPage waits for page 0's creator to initialize it.
func shmAwaitPage(ctx context.Context, mem []byte) (*shmDirPage, error) {
	if len(mem) < shmMinDirSize {
		return nil, shmCorruptf("directory of %d bytes", len(mem))
	}
	hdr, err := ctypes.View[shmDirHeader](mem)
	if err != nil {
		return nil, shmCorruptf("directory header: %v", err)
	}
	backoff := 20 * time.Microsecond
	for {
		switch magic := atomic.LoadUint32(&hdr.magic); magic {
		case shmDirMagic:
			return shmAttachPage(mem, 0)
		case 0:
		default:
			return nil, shmCorruptf("bad magic %#x: not a manager segment", magic)
		}
		if pid := atomic.LoadUint32(&hdr.creator); pid != 0 && !shmAlive(pid) &&
			atomic.CompareAndSwapUint32(&hdr.creator, pid, uint32(os.Getpid())) {
			return shmInitPage(mem, 0)
		}
		if err := shmSleep(ctx, &backoff); err != nil {
			return nil, err
		}
	}
}

// shmAlive reports whether process pid exists.
func shmAlive(pid uint32) bool {
	return unix.Kill(int(pid), 0) != unix.ESRCH
}

// shmSleep sleeps *backoff (doubling it up to a millisecond) or until ctx
// ends.
func shmSleep(ctx context.Context, backoff *time.Duration) error {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	*backoff = min(2**backoff, time.Millisecond)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *shmBackend) pageName(k int) string {
	if k == 0 {
		return b.name
	}
	return b.name + ".d" + strconv.Itoa(k)
}

func (b *shmBackend) dir() *shmDirHeader { return b.pages[0].hdr }

// pageCount is the number of published directory pages.
func (b *shmBackend) pageCount() (int, error) {
	n := atomic.LoadUint32(&b.dir().pages)
	if n < 1 || n > shmMaxDirPages {
		return 0, shmCorruptf("directory of %d pages", n)
	}
	return int(n), nil
}

// page returns directory page k (< pageCount), mapping the pages up to it.
// Called with b.mu held.
func (b *shmBackend) page(k int) (*shmDirPage, error) {
	for len(b.pages) <= k {
		i := len(b.pages)
		seg, err := shm.Open(b.pageName(i), nil)
		if err != nil {
			return nil, shmCorruptf("directory page %d: %v", i, err)
		}
		p, err := shmPageOf(seg, func(mem []byte) (*shmDirPage, error) {
			p, err := shmAttachPage(mem, i)
			if err == nil && len(p.entries) != b.perPage {
				err = shmCorruptf("directory page %d has %d entries, page 0 %d", i, len(p.entries), b.perPage)
			}
			return p, err
		})
		if err != nil {
			return nil, err
		}
		b.pages = append(b.pages, p)
	}
	return b.pages[k], nil
}

// lookup finds the ready entry called name (entry i of page p), without
// the directory lock: an entry's fields are written before its state is
// published. p is nil when there is none. Called with b.mu held.
func (b *shmBackend) lookup(name string) (p *shmDirPage, i int, err error) {
	n, err := b.pageCount()
	if err != nil {
		return nil, 0, err
	}
	for k := range n {
		p, err := b.page(k)
		if err != nil {
			return nil, 0, err
		}
		for i := range p.entries {
			e := &p.entries[i]
			if atomic.LoadUint32(&e.state) == shmEntryReady && e.named(name) {
				return p, i, nil
			}
		}
	}
	return nil, 0, nil
}

// lockDir takes the directory lock. If its holder died, the page it may
// have been adding is removed: entries are published by one store, so a
// half-made one is still free.
func (b *shmBackend) lockDir(ctx context.Context) error {
	mu := &b.dir().mu
	switch err := mu.LockContext(ctx); err {
	case nil:
		return nil
	case locks.ErrOwnerDead:
		shmRecoveries.Add(1)
		if n, err := b.pageCount(); err == nil {
			_ = shm.Unlink(b.pageName(n))
		}
		mu.MarkConsistent()
		return nil
	case locks.ErrNotRecoverable:
		return shmCorruptf("shm:%s: directory lock not recoverable", b.name)
	default:
		return err
	}
}

// create finds or creates the entry called name, under the directory lock.
// Called with b.mu held.
func (b *shmBackend) create(ctx context.Context, k kind, name string, n int) (*shmDirPage, int, error) {
	if err := b.lockDir(ctx); err != nil {
		return nil, 0, err
	}
	defer shmUnlock(&b.dir().mu)
	if atomic.LoadUint32(&b.dir().destroyed) != 0 {
		return nil, 0, fmt.Errorf("%w: shm:%s was destroyed", ErrClosed, b.name)
	}
	if p, i, err := b.lookup(name); p != nil || err != nil {
		return p, i, err
	}
	pages, err := b.pageCount()
	if err != nil {
		return nil, 0, err
	}
	for pk := range pages {
		p, err := b.page(pk)
		if err != nil {
			return nil, 0, err
		}
		for i := range p.entries {
			if atomic.LoadUint32(&p.entries[i].state) == shmEntryFree {
				b.fill(p, i, k, name, n)
				return p, i, nil
			}
		}
	}
	p, err := b.addPage(pages)
	if err != nil {
		return nil, 0, err
	}
	b.fill(p, 0, k, name, n)
	return p, 0, nil
}

// fill writes entry i of page p and publishes it.
func (b *shmBackend) fill(p *shmDirPage, i int, k kind, name string, n int) {
	p.clearEntry(i) // a creator that died may have left anything here
	e := &p.entries[i]
	e.kind = uint32(k)
	e.nameLen = uint32(len(name))
	copy(e.name[:], name)
	if k == kindSemaphore {
		e.sem.Init(n)
	}
	shmHook("dir-entry-written")
	atomic.StoreUint32(&e.state, shmEntryReady) // publishes
}

// addPage creates directory page k (== pageCount) and publishes it.
// Called with b.mu and the directory lock held.
func (b *shmBackend) addPage(k int) (*shmDirPage, error) {
	if k >= shmMaxDirPages {
		return nil, fmt.Errorf("manager: shm:%s: directory full (%d objects)", b.name, k*b.perPage)
	}
	if len(b.pages) != k {
		return nil, shmCorruptf("adding page %d with %d mapped", k, len(b.pages))
	}
	name := b.pageName(k)
	seg, err := shm.Create(name, int64(b.pageSize), nil)
	if errors.Is(err, fs.ErrExist) { // left by a process that died adding it
		_ = shm.Unlink(name)
		seg, err = shm.Create(name, int64(b.pageSize), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("manager: shm:%s: adding a directory page: %w", b.name, err)
	}
	p, err := shmPageOf(seg, func(mem []byte) (*shmDirPage, error) { return shmInitPage(mem, k) })
	if err != nil {
		_ = shm.Unlink(name)
		return nil, err
	}
	b.pages = append(b.pages, p)
	shmHook("dir-page-built")
	atomic.StoreUint32(&b.dir().pages, uint32(k+1)) // publishes
	return p, nil
}
