package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Segment administration: who made a segment, who uses it, and listing
// /dev/shm (the shmkit command's ls, stat, rm and gc).

// CreatorXattr is the extended attribute in which Create records the
// creating process, as "pid=P start=S": S is the process's start time in
// clock ticks since boot (/proc/P/stat field 22), which tells a live
// process from a later one that reuses the pid. Segments made elsewhere
// (C, Python), or on kernels whose tmpfs lacks user extended attributes
// (before Linux 6.6), have none.
const CreatorXattr = "user.shmkit.creator"

// Creator identifies the process that created a segment.
type Creator struct {
	Pid   int
	Start uint64 // start time, clock ticks since boot
}

func (c Creator) String() string { return fmt.Sprintf("pid=%d start=%d", c.Pid, c.Start) }

// Alive reports whether the creating process still runs: a process with
// that pid exists and started at the recorded time.
func (c Creator) Alive() bool {
	st, err := procStart(c.Pid)
	return err == nil && st == c.Start
}

var selfStart = func() uint64 {
	st, _ := procStart(os.Getpid())
	return st
}()

// procStart reads the start time of process pid from /proc/pid/stat.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces; fields
	// resume after the last ')'. starttime is field 22, the 20th after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("shm: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("shm: /proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// recordCreator stores this process as fd's creator. Failure (no user
// xattrs on this tmpfs) is not an error: the segment just has no recorded
// creator, and gc leaves it alone.
func recordCreator(fd int) {
	_ = unix.Fsetxattr(fd, CreatorXattr, selfCreator(), 0)
}

// selfCreator is this process's creator record, made once: a Go process
// keeps its pid (it cannot fork), and a Create saves the getpid call.
var selfCreator = sync.OnceValue(func() []byte {
	return []byte(Creator{Pid: selfPid, Start: selfStart}.String())
})

func parseCreator(v string) (Creator, bool) {
	var c Creator
	if _, err := fmt.Sscanf(v, "pid=%d start=%d", &c.Pid, &c.Start); err != nil || c.Pid <= 0 {
		return Creator{}, false
	}
	return c, true
}

// SegmentInfo describes a named segment in /dev/shm.
type SegmentInfo struct {
	Name       string
	Size       int64
	Mode       fs.FileMode
	UID, GID   int
	ModTime    time.Time
	Creator    Creator // zero when not recorded
	HasCreator bool
}

// Stat describes the segment called name.
func Stat(name string) (SegmentInfo, error) {
	n, err := ValidateName(name)
	if err != nil {
		return SegmentInfo{}, err
	}
	fi, err := os.Lstat(Dir + "/" + n)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("shm: stat %q: %w", n, err)
	}
	return info(n, fi), nil
}

func info(name string, fi fs.FileInfo) SegmentInfo {
	si := SegmentInfo{Name: name, Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		si.UID, si.GID = int(st.Uid), int(st.Gid)
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(Dir+"/"+name, CreatorXattr, buf); err == nil {
		si.Creator, si.HasCreator = parseCreator(string(buf[:n]))
	}
	return si
}

// List describes every regular file in /dev/shm, sorted by name.
func List() ([]SegmentInfo, error) {
	ents, err := os.ReadDir(Dir)
	if err != nil {
		return nil, fmt.Errorf("shm: list: %w", err)
	}
	var out []SegmentInfo
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, info(e.Name(), fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Users lists the processes that have the segment called name open or
// mapped, as far as /proc shows (processes of other users may be hidden
// from an unprivileged caller: Users then reports fs.ErrPermission alongside
// what it found, and a caller deciding whether a segment is unused must
// treat that as "maybe used").
func Users(name string) ([]int, error) {
	n, err := ValidateName(name)
	if err != nil {
		return nil, err
	}
	path := Dir + "/" + n
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var users []int
	var denied bool
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		used, err := procUses(p, path)
		if errors.Is(err, fs.ErrPermission) {
			denied = true
		}
		if used {
			users = append(users, pid)
		}
	}
	if denied {
		return users, fmt.Errorf("shm: users of %q: some processes could not be inspected: %w", n, fs.ErrPermission)
	}
	return users, nil
}

// procUses reports whether the process at /proc/PID maps path or has it
// open. A mapping of a deleted file shows " (deleted)" after the path.
func procUses(proc, path string) (bool, error) {
	maps, err := os.ReadFile(proc + "/maps")
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil // exited meanwhile
		}
		return false, err
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(line, " "+path) {
			return true, nil
		}
	}
	fds, err := os.ReadDir(proc + "/fd")
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, err
	}
	for _, fd := range fds {
		if t, err := os.Readlink(proc + "/fd/" + fd.Name()); err == nil && t == path {
			return true, nil
		}
	}
	return false, nil
}
