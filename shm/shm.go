package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/shmkit/shmkit/internal/sys"
	"golang.org/x/sys/unix"
)

// Dir is the directory that holds named segments on Linux.
const Dir = "/dev/shm"

// MaxNameLen is the longest segment name Linux accepts (NAME_MAX), not
// counting an optional leading slash.
const MaxNameLen = 255

// Errors returned by this package. Errors that come from the kernel also
// match their errno (errors.Is(err, unix.ENOSPC)), and the standard fs
// errors where one applies (fs.ErrExist, fs.ErrNotExist, fs.ErrPermission).
var (
	// ErrInvalidName: the name is empty, too long, or contains '/' or NUL.
	ErrInvalidName = errors.New("shm: invalid segment name")
	// ErrInvalidSize: the size is not positive, does not fit the address
	// space, or exceeds the capacity of the file system.
	ErrInvalidSize = errors.New("shm: invalid segment size")
	// ErrNoSpace: the file system could not reserve the segment's memory.
	// It also matches unix.ENOSPC.
	ErrNoSpace = errors.New("shm: no space for segment")
	// ErrNotSealed: a memfd descriptor is not sealed against shrinking, so
	// another holder could truncate it under our mapping.
	ErrNotSealed = errors.New("shm: memfd not sealed against shrinking")
	// ErrClosed: the segment was closed.
	ErrClosed = errors.New("shm: segment closed")
)

// Options tune Create, Open, AnonymousOptions and FromFd. A nil *Options means the
// zero value: mode 0600, read-write, lazily faulted pages, memory reserved
// at creation.
type Options struct {
	// Mode is the permission of a created segment; zero means 0600. The
	// process umask does not apply: the segment gets exactly this mode.
	// Open and FromFd ignore it.
	Mode fs.FileMode
	// ReadOnly opens the descriptor O_RDONLY and maps it PROT_READ; writing
	// through Bytes then crashes. Zero means read-write. Create and
	// Anonymous reject it: a new segment is always writable by its creator.
	ReadOnly bool
	// Prefault maps with MAP_POPULATE, so the page tables are filled when
	// the segment is mapped instead of on first touch. Zero means lazy.
	Prefault bool
	// NoReserve skips reserving the segment's memory at creation
	// (fallocate). Zero means reserve: Create and Anonymous fail with
	// ErrNoSpace when the memory is not there, instead of the process
	// receiving SIGBUS when it first touches a page that cannot be backed.
	NoReserve bool
}

func (o *Options) mode() uint32 {
	if o == nil || o.Mode == 0 {
		return 0o600
	}
	return uint32(o.Mode.Perm())
}

// Segment is a mapped shared-memory segment. Its methods are safe for
// concurrent use, except that Close must not race with users of Bytes.
type Segment struct {
	name     string // "" for anonymous and fd segments
	size     int64
	readOnly bool

	mu      sync.Mutex
	res     *resources // nil once closed
	cleanup runtime.Cleanup
}

// resources are what a Segment must release; the cleanup holds them, never
// the Segment, so a forgotten Segment can be collected.
type resources struct {
	fd   int
	data []byte
	// Registry bookkeeping (registry.go), fixed at map time.
	id   uint64
	base uintptr
	name string
	size int64
}

func (r *resources) release() error {
	unregister(r)
	var errs []error
	if r.data != nil {
		if err := unix.Munmap(r.data); err != nil {
			errs = append(errs, fmt.Errorf("shm: munmap: %w", err))
		}
		r.data = nil
	}
	if r.fd >= 0 {
		if err := unix.Close(r.fd); err != nil {
			errs = append(errs, fmt.Errorf("shm: close: %w", err))
		}
		r.fd = -1
	}
	return errors.Join(errs...)
}

// ValidateName checks name by the rules of Create and Open and returns it
// without its optional leading slash.
func ValidateName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case n == "":
		return "", fmt.Errorf("%w: empty name %q", ErrInvalidName, name)
	case len(n) > MaxNameLen:
		return "", fmt.Errorf("%w: %d bytes long, the limit is %d", ErrInvalidName, len(n), MaxNameLen)
	case strings.ContainsRune(n, '/'):
		return "", fmt.Errorf("%w: %q contains '/' (only one leading '/' is allowed)", ErrInvalidName, name)
	case strings.ContainsRune(n, 0):
		return "", fmt.Errorf("%w: %q contains NUL", ErrInvalidName, name)
	case n == "." || n == "..":
		return "", fmt.Errorf("%w: %q is not a file name", ErrInvalidName, name)
	}
	return n, nil
}

func checkSize(size int64) error {
	if size <= 0 {
		return fmt.Errorf("%w: %d, must be positive", ErrInvalidSize, size)
	}
	if uint64(size) > uint64(^uint(0)>>1) {
		return fmt.Errorf("%w: %d does not fit this platform's address space", ErrInvalidSize, size)
	}
	return nil
}

// Create makes a new segment called name of size bytes, zero-filled, and
// maps it. It fails with an error matching fs.ErrExist when the name is
// taken. name may carry one leading '/' (the shm_open form); it is not part
// of the name.
func Create(name string, size int64, opts *Options) (*Segment, error) {
	n, err := ValidateName(name)
	if err != nil {
		return nil, err
	}
	if err := checkSize(size); err != nil {
		return nil, err
	}
	if opts != nil && opts.ReadOnly {
		return nil, fmt.Errorf("shm: create %q: ReadOnly is for Open and FromFd; a new segment is writable", n)
	}
	// A sparse segment larger than the file system could never be backed.
	// With reservation (the default) fallocate finds that out for free.
	if opts != nil && opts.NoReserve {
		if err := checkCapacity(size); err != nil {
			return nil, fmt.Errorf("shm: create %q: %w", n, err)
		}
	}
	path := Dir + "/" + n
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, opts.mode())
	if err != nil {
		return nil, fmt.Errorf("shm: create %q: %w", n, pathErr(err))
	}
	fail := func(err error) (*Segment, error) {
		_ = unix.Close(fd)
		_ = unix.Unlink(path)
		return nil, fmt.Errorf("shm: create %q: %w", n, err)
	}
	// The umask trimmed the mode at open; set exactly what was asked.
	if err := unix.Fchmod(fd, opts.mode()); err != nil {
		return fail(err)
	}
	recordCreator(fd)
	if err := sizeFile(fd, size, opts); err != nil {
		if cerr := checkCapacity(size); cerr != nil {
			err = cerr // say "too large", not "full"
		}
		return fail(err)
	}
	seg, err := mapFd(fd, n, size, opts)
	if err != nil {
		return fail(err)
	}
	return seg, nil
}

// Open attaches the existing segment called name and maps all of it. It
// fails with an error matching fs.ErrNotExist when there is none. Segments
// created by C shm_open or Python's SharedMemory open the same way.
func Open(name string, opts *Options) (*Segment, error) {
	n, err := ValidateName(name)
	if err != nil {
		return nil, err
	}
	flags := unix.O_RDWR
	if opts != nil && opts.ReadOnly {
		flags = unix.O_RDONLY
	}
	// O_NONBLOCK: a FIFO planted under the name must not hang a read-only
	// open; it is refused below as not a regular file. On a regular file
	// the flag changes nothing.
	fd, err := unix.Open(Dir+"/"+n, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: open %q: %w", n, pathErr(err))
	}
	seg, err := mapExisting(fd, n, opts)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("shm: open %q: %w", n, err)
	}
	return seg, nil
}

// Anonymous makes a nameless segment of size bytes backed by a memfd,
// sealed against shrinking. Other processes map it from a descriptor: pass
// Dup's file to a child (exec.Cmd.ExtraFiles) and call FromFd there.
func Anonymous(size int64) (*Segment, error) {
	return AnonymousOptions(size, nil)
}

// AnonymousOptions is Anonymous with options (Prefault, NoReserve).
func AnonymousOptions(size int64, opts *Options) (*Segment, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	if opts != nil && opts.ReadOnly {
		return nil, errors.New("shm: anonymous: ReadOnly is for Open and FromFd; a new segment is writable")
	}
	// A memfd lives on the kernel's internal tmpfs, which has no size
	// limit: reserving more than the machine has would end in the OOM
	// killer, not in an error.
	if err := checkMemory(size); err != nil {
		return nil, fmt.Errorf("shm: anonymous: %w", err)
	}
	fd, err := sys.MemfdCreate("shmkit", sys.MFD_CLOEXEC|sys.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("shm: memfd_create: %w", err)
	}
	fail := func(err error) (*Segment, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("shm: anonymous: %w", err)
	}
	if err := sizeFile(fd, size, opts); err != nil {
		return fail(err)
	}
	// Sealed against shrinking: a peer that holds the descriptor cannot
	// truncate the file and make our mapping fault.
	if err := sys.AddSeals(fd, sys.SealShrink); err != nil {
		return fail(fmt.Errorf("seal: %w", err))
	}
	seg, err := mapFd(fd, "", size, opts)
	if err != nil {
		return fail(err)
	}
	return seg, nil
}

// FromFd maps the segment behind the descriptor fd, typically inherited from
// a parent. On success the Segment takes ownership of fd: Close closes it; on
// error fd stays the caller's. A memfd must be sealed against shrinking
// (ErrNotSealed otherwise); a /dev/shm file cannot carry seals and is
// accepted as it is.
func FromFd(fd int, opts *Options) (*Segment, error) {
	if fd < 0 {
		return nil, fmt.Errorf("shm: from fd %d: %w", fd, unix.EBADF)
	}
	// Every tmpfs file answers F_GET_SEALS; one that never allowed sealing,
	// such as a /dev/shm file, reports F_SEAL_SEAL alone. Only a memfd could
	// have been sealed, so only a memfd is refused for not being.
	seals, err := sys.GetSeals(fd)
	switch {
	case err == nil && seals&sys.SealShrink == 0 && isMemfd(fd):
		return nil, fmt.Errorf("shm: from fd %d: %w", fd, ErrNotSealed)
	case err != nil && !errors.Is(err, unix.EINVAL):
		return nil, fmt.Errorf("shm: from fd %d: %w", fd, err)
	}
	seg, err := mapExisting(fd, "", opts)
	if err != nil {
		return nil, fmt.Errorf("shm: from fd %d: %w", fd, err)
	}
	return seg, nil
}

// Unlink removes the segment called name from /dev/shm. Processes that have
// it mapped keep their mappings; the memory is freed when the last one is
// closed.
func Unlink(name string) error {
	n, err := ValidateName(name)
	if err != nil {
		return err
	}
	if err := unix.Unlink(Dir + "/" + n); err != nil {
		return fmt.Errorf("shm: unlink %q: %w", n, pathErr(err))
	}
	return nil
}

// isMemfd reports whether fd is a memfd, which the kernel names
// "/memfd:NAME (deleted)" in /proc/self/fd. When /proc cannot tell, it
// reports true, so that an unsealed descriptor is refused, not trusted.
func isMemfd(fd int) bool {
	var buf [64]byte
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf[:])
	if err != nil {
		return true
	}
	return strings.HasPrefix(string(buf[:n]), "/memfd:")
}

func mapExisting(fd int, name string, opts *Options) (*Segment, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: not a regular file", ErrInvalidSize)
	}
	if st.Size <= 0 {
		return nil, fmt.Errorf("%w: segment is empty", ErrInvalidSize)
	}
	if err := checkSize(st.Size); err != nil {
		return nil, err
	}
	return mapFd(fd, name, st.Size, opts)
}

// sizeFile sets the file's size and, unless opts says not to, reserves its
// pages so that a full file system fails here rather than at first touch.
func sizeFile(fd int, size int64, opts *Options) error {
	if opts != nil && opts.NoReserve {
		if err := sys.Ftruncate(fd, size); err != nil {
			return fmt.Errorf("ftruncate to %d bytes: %w", size, err)
		}
		return nil
	}
	// fallocate with mode 0 also extends the file to size: one system call
	// sizes and reserves.
	if err := sys.Fallocate(fd, 0, size); err != nil {
		if errors.Is(err, unix.ENOSPC) {
			return fmt.Errorf("%w: reserving %d bytes: %w", ErrNoSpace, size, err)
		}
		return fmt.Errorf("reserving %d bytes: %w", size, err)
	}
	return nil
}

// checkMemory rejects sizes beyond the machine's RAM and swap.
func checkMemory(size int64) error {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return nil
	}
	total := (uint64(si.Totalram) + uint64(si.Totalswap)) * uint64(si.Unit)
	if total > 0 && uint64(size) > total {
		return fmt.Errorf("%w: %d bytes is more than this machine's memory and swap (%d bytes)", ErrInvalidSize, size, total)
	}
	return nil
}

// checkCapacity rejects sizes larger than the whole /dev/shm file system:
// such a segment could never be backed. Free space is checked by the
// reservation, which is exact.
func checkCapacity(size int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(Dir, &st); err != nil {
		return nil // no statfs, no check; the reservation still applies
	}
	total := st.Blocks * uint64(st.Bsize)
	if total > 0 && uint64(size) > total {
		return fmt.Errorf("%w: %d bytes is more than %s holds in all (%d bytes)", ErrInvalidSize, size, Dir, total)
	}
	return nil
}

func mapFd(fd int, name string, size int64, opts *Options) (*Segment, error) {
	prot := unix.PROT_READ | unix.PROT_WRITE
	readOnly := opts != nil && opts.ReadOnly
	if readOnly {
		prot = unix.PROT_READ
	}
	flags := unix.MAP_SHARED
	if opts != nil && opts.Prefault {
		flags |= unix.MAP_POPULATE
	}
	data, err := unix.Mmap(fd, 0, int(size), prot, flags)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	s := &Segment{name: name, size: size, readOnly: readOnly, res: &resources{fd: fd, data: data, name: name, size: size}}
	register(s.res)
	s.cleanup = addCleanup(s)
	return s, nil
}

// addCleanup arms the safety net that releases a forgotten segment's
// resources; Close disarms it.
func addCleanup(s *Segment) runtime.Cleanup {
	return runtime.AddCleanup(s, func(r *resources) { _ = r.release() }, s.res)
}

// pathErr keeps the errno of open/unlink, which already matches the fs
// sentinels (EEXIST is fs.ErrExist, ENOENT fs.ErrNotExist, EACCES
// fs.ErrPermission), and explains the two that need words.
func pathErr(err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("is a symbolic link: %w", err)
	case errors.Is(err, unix.ENAMETOOLONG):
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return err
}

// Name is the segment's name, without a leading slash; "" for anonymous
// segments and segments mapped from a descriptor.
func (s *Segment) Name() string { return s.name }

// Size is the segment's size in bytes, fixed when it was mapped.
func (s *Segment) Size() int64 { return s.size }

// ReadOnly reports whether the segment is mapped read-only.
func (s *Segment) ReadOnly() bool { return s.readOnly }

// Bytes is the whole mapping, or nil after Close. The slice does not keep
// the Segment alive: a Segment that becomes unreachable is unmapped by the
// garbage collector, so keep it reachable (Close it after the last use)
// while the slice is in use.
func (s *Segment) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return nil
	}
	return s.res.data
}

// Fd is the segment's descriptor, or -1 after Close. It stays owned by the
// Segment; use Dup to hand a descriptor to another process.
func (s *Segment) Fd() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return -1
	}
	return s.res.fd
}

// Dup returns a new descriptor for the segment, without O_CLOEXEC's effect
// on exec.Cmd.ExtraFiles (Go clears it for those), for passing to another
// process. The caller owns the returned file.
func (s *Segment) Dup() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return nil, ErrClosed
	}
	fd, err := unix.FcntlInt(uintptr(s.res.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: dup: %w", err)
	}
	name := s.name
	if name == "" {
		name = "memfd:shmkit"
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Close unmaps the segment and closes its descriptor. It does not remove the
// name (see Unlink). Close is idempotent: later calls return nil.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return nil
	}
	s.cleanup.Stop()
	err := s.res.release()
	s.res = nil
	return err
}

// Unlink removes the segment's name from /dev/shm; the mapping stays valid
// until Close. For an anonymous segment it does nothing and returns nil.
func (s *Segment) Unlink() error {
	if s.name == "" {
		return nil
	}
	return Unlink(s.name)
}

// String describes the segment for logs.
func (s *Segment) String() string {
	if s.name == "" {
		return fmt.Sprintf("shm.Segment(anonymous, %d bytes)", s.size)
	}
	return fmt.Sprintf("shm.Segment(%q, %d bytes)", s.name, s.size)
}
