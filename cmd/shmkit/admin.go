package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/locks"
	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// Segment administration: ls, stat, rm, gc.

// detector recognizes a shmkit structure at the start of a segment and
// describes it in a few words, or returns "".
type detector func(seg *shm.Segment) string

var detectors = []detector{
	func(seg *shm.Segment) string {
		info, err := rawarray.Inspect(seg, 0)
		if err != nil {
			return ""
		}
		what := fmt.Sprintf("rawarray v%d %s<%s>[%d]", le32(seg.Bytes(), 4)&0xffff, info.Kind, info.Code, info.Len)
		if info.Len == 1 && (info.Kind == rawarray.KindValue || info.Kind == rawarray.KindRawValue) {
			what = fmt.Sprintf("rawarray v%d %s<%s>", le32(seg.Bytes(), 4)&0xffff, info.Kind, info.Code)
		}
		if info.Kind == rawarray.KindValue || info.Kind == rawarray.KindArray {
			what += lockState(seg.Bytes(), rawarray.HeaderSize)
		}
		return what
	},
	func(seg *shm.Segment) string {
		b := seg.Bytes()
		switch le32(b, 0) {
		case ring.Magic:
			switch le32(b, 8) {
			case 1:
				if r, err := ring.AttachSPSC(b); err == nil {
					return fmt.Sprintf("ring SPSC v%d, %d/%d messages of up to %d bytes%s", le32(b, 4), r.Len(), r.Cap(), r.SlotSize(), closed(r.Closed()))
				}
			case 2:
				if r, err := ring.AttachMPMC(b); err == nil {
					return fmt.Sprintf("ring MPMC v%d, %d/%d messages of up to %d bytes%s", le32(b, 4), r.Len(), r.Cap(), r.SlotSize(), closed(r.Closed()))
				}
			}
			return "ring (invalid header)"
		case 0x51686d73: // "shmQ"
			if len(b) > 64 {
				if r, err := ring.AttachMPMC(b[64:]); err == nil {
					return fmt.Sprintf("ring Queue v%d, %d/%d items%s", le32(b, 4), r.Len(), r.Cap(), closed(r.Closed()))
				}
			}
			return "ring Queue (invalid)"
		case 0x50686d73: // "shmP"
			return fmt.Sprintf("ring Pipe v%d, duplex=%v", le32(b, 4), le32(b, 8) == 1)
		case 0x4d6d6873: // "shmM"
			return fmt.Sprintf("manager directory v%d page %d of %d%s", le32(b, 4), le32(b, 20), le32(b, 16), lockState(b, 32))
		case 0x4f6d6873: // "shmO"
			kinds := map[uint32]string{1: "Dict", 2: "List", 3: "Namespace", 4: "Queue"}
			return fmt.Sprintf("manager %s object v%d, generation %d", kinds[le32(b, 8)], le32(b, 4), le64(b, 24))
		}
		return ""
	},
}

func le32(b []byte, off int) uint32 {
	if len(b) < off+4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b[off:])
}

func le64(b []byte, off int) uint64 {
	if len(b) < off+8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b[off:])
}

func closed(c bool) string {
	if c {
		return ", closed"
	}
	return ""
}

// lockState describes the locks.Mutex at off: who holds it.
func lockState(b []byte, off int) string {
	if off < 0 || off > len(b) {
		return ""
	}
	m, err := ctypes.View[locks.Mutex](b[off:])
	if err != nil {
		return ""
	}
	switch tid := m.Owner(); tid {
	case 0:
		return ", unlocked"
	case -1:
		return ", lock not recoverable"
	default:
		return fmt.Sprintf(", locked by process %d", tgid(tid))
	}
}

// tgid is the process of thread tid, or tid itself if /proc does not say.
func tgid(tid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	return tid
}

// kindOf maps the segment read-only and asks each detector.
func kindOf(name string) string {
	seg, err := shm.Open(name, &shm.Options{ReadOnly: true})
	if err != nil {
		return "?"
	}
	defer seg.Close()
	for _, d := range detectors {
		if k := d(seg); k != "" {
			return k
		}
	}
	return "-"
}

type segmentRow struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Mode    string `json:"mode"`
	Owner   string `json:"owner"`
	Creator string `json:"creator,omitempty"`
	Alive   *bool  `json:"creatorAlive,omitempty"`
	Kind    string `json:"kind"`
	Users   []int  `json:"users,omitempty"`
}

func row(si shm.SegmentInfo) segmentRow {
	r := segmentRow{Name: si.Name, Size: si.Size, Mode: si.Mode.Perm().String(), Owner: owner(si.UID), Kind: kindOf(si.Name)}
	if si.HasCreator {
		alive := si.Creator.Alive()
		r.Creator, r.Alive = strconv.Itoa(si.Creator.Pid), &alive
	}
	return r
}

func owner(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func (r segmentRow) creatorText() string {
	switch {
	case r.Creator == "":
		return "-"
	case *r.Alive:
		return r.Creator
	default:
		return r.Creator + " (gone)"
	}
}

func runLs(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("ls", "List the shared-memory segments in /dev/shm: size, mode, owner, the\n"+
		"process that created it (recorded by shmkit) and, for shmkit structures, what they hold.", stderr)
	asJSON := flags.Bool("json", false, "print JSON")
	if err := parse(flags, args); err != nil {
		return err
	}
	all, err := shm.List()
	if err != nil {
		return err
	}
	rows := make([]segmentRow, 0, len(all))
	for _, si := range all {
		rows = append(rows, row(si))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tMODE\tOWNER\tCREATOR\tKIND")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Size, r.Mode, r.Owner, r.creatorText(), r.Kind)
	}
	return tw.Flush()
}

func runStat(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("stat NAME...", "Describe segments in detail, including the processes using them.", stderr)
	asJSON := flags.Bool("json", false, "print JSON")
	if err := flags.Parse(args); err != nil {
		return usageErr(err)
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return errUsage
	}
	var errs []error
	for _, name := range flags.Args() {
		si, err := shm.Stat(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r := row(si)
		users, uerr := shm.Users(name)
		r.Users = users
		if *asJSON {
			b, _ := json.MarshalIndent(r, "", "  ")
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(stdout, "%s\n  size     %d bytes\n  mode     %s\n  owner    %s\n  modified %s\n  creator  %s\n  kind     %s\n  users    %v",
			r.Name, r.Size, r.Mode, r.Owner, si.ModTime.Format("2006-01-02 15:04:05"), r.creatorText(), r.Kind, users)
		if errors.Is(uerr, fs.ErrPermission) {
			fmt.Fprint(stdout, " (some processes could not be inspected)")
		}
		fmt.Fprintln(stdout)
	}
	return errors.Join(errs...)
}

func runRm(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("rm NAME...", "Remove segments from /dev/shm. Processes that have them mapped keep\n"+
		"their mappings; the memory is freed when the last one unmaps.", stderr)
	if err := flags.Parse(args); err != nil {
		return usageErr(err)
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return errUsage
	}
	var errs []error
	for _, name := range flags.Args() {
		if err := shm.Unlink(name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "removed %s\n", name)
	}
	return errors.Join(errs...)
}

func runGc(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("gc", "Remove segments whose creating process is gone (as recorded by shmkit)\n"+
		"and that no live process has open or mapped. Segments without a recorded\n"+
		"creator (made by C or Python) are never removed.", stderr)
	dry := flags.Bool("dry-run", false, "only list what would be removed")
	ignoreHidden := flags.Bool("ignore-hidden", false, "treat processes /proc does not let us inspect as non-users")
	if err := parse(flags, args); err != nil {
		return err
	}
	all, err := shm.List()
	if err != nil {
		return err
	}
	removed := 0
	var errs []error
	for _, si := range all {
		if !si.HasCreator || si.Creator.Alive() {
			continue
		}
		users, uerr := shm.Users(si.Name)
		switch {
		case len(users) > 0:
			fmt.Fprintf(stdout, "keep   %s: creator %d is gone but processes %v use it\n", si.Name, si.Creator.Pid, users)
			continue
		case errors.Is(uerr, os.ErrPermission) && !*ignoreHidden:
			fmt.Fprintf(stdout, "keep   %s: creator %d is gone, but some processes could not be inspected (--ignore-hidden to remove anyway)\n", si.Name, si.Creator.Pid)
			continue
		case uerr != nil && !errors.Is(uerr, os.ErrPermission):
			errs = append(errs, uerr)
			continue
		}
		if *dry {
			fmt.Fprintf(stdout, "would remove %s (%d bytes, creator %d gone)\n", si.Name, si.Size, si.Creator.Pid)
			continue
		}
		if err := shm.Unlink(si.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
		fmt.Fprintf(stdout, "removed %s (%d bytes, creator %d gone)\n", si.Name, si.Size, si.Creator.Pid)
	}
	if !*dry {
		fmt.Fprintf(stdout, "%d segment(s) removed\n", removed)
	}
	return errors.Join(errs...)
}

func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}
