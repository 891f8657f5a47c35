package rawarray

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/shmkit/shmkit/shm"
)

// ShareableList is a fixed-length list of int64, float64, bool, string,
// []byte and nil items in shared memory: Python's
// multiprocessing.shared_memory.ShareableList, byte for byte. A list made
// by Python (ShareableList(items, name=NAME)) opens in Go with
// OpenShareableList(NAME), and a list made by NewShareableList opens in
// Python with ShareableList(name=NAME); either side reads and writes every
// item. The items map to Python's types:
//
//	Go       Python  format      code  slot size
//	int64    int     "q"         0     8
//	float64  float   "d"         0     8
//	bool     bool    "xxxxxxx?"  0     8
//	string   str     "<N>s"      1     N = 8*(len/8+1), len in UTF-8 bytes
//	[]byte   bytes   "<N>s"      2     N = 8*(len/8+1)
//	nil      None    "xxxxxx?x"  3     8
//
// Set and NewShareableList also take Go's other integer types (int,
// int32, uint8, ...; an unsigned value above math.MaxInt64 is ErrItem) and
// float32; Get returns them as int64 and float64.
//
// Memory layout (CPython 3.11's Lib/multiprocessing/shared_memory.py; n
// items, D = offsets[n] bytes of slots). Integers are in the
// platform's native byte order and sizes, as Python's struct "@" packs
// them: little-endian 8-byte int64 on linux/amd64 and linux/arm64, so a
// list is shared between processes of one machine, not between machines of
// different byte order. Nothing needs alignment.
//
//	offset            size      field
//	0                 8         n, the item count (int64)
//	8                 8(n+1)    offsets (int64): slot i is [offsets[i], offsets[i+1])
//	                            of the data area; offsets[0] = 0
//	8(n+2)            D         data area: the slots, each holding its item as
//	                            its format packs it (a str or bytes NUL-padded)
//	8(n+2)+D          8n        formats: item i's struct format, ASCII,
//	                            NUL-padded to 8 bytes ("q", "d", "16s", ...)
//	8(n+2)+D+8n       n         codes (int8): how to read the item back
//	                            (0 as is, 1 str, 2 bytes, 3 None)
//
// The total is 8(n+2)+D+9n bytes: Python's SharedMemory has exactly that
// size on Linux. A bool is its slot's byte 7 (0 or 1, bytes 0-6 zero), None
// eight zero bytes. The count and the offsets never change after creation;
// a Set rewrites the item's format, its code and its slot, in that order,
// as Python does.
//
// Slots are sized when the list is made and never move, so the list's
// length is fixed, and a str or bytes item can later hold at most its
// slot's size: a longer one is ErrTooLarge, Python's ValueError "bytes/str
// item exceeds available storage". Any item may be replaced by one of
// another type that fits (every slot holds an int, a float, a bool or
// None; a str or bytes fits up to the slot's size), which rewrites the
// item's format and code as Python does.
//
// Differences from Python, and what Python does that Go keeps:
//
//   - Strings and bytes lose trailing NUL bytes: a slot is NUL-padded, and
//     reading strips every NUL at its end (Python's rstrip(b"\x00")).
//     Set(i, "ab\x00") reads back "ab", in Go and in Python alike.
//   - Negative indices count from the end, as in Python: Get(-1) is the
//     last item. Anything outside [-Len(), Len()) is ErrIndex.
//   - Python 3.11 sizes a str item's slot by its length in characters
//     (CPython issue gh-88336), truncating a non-ASCII string at creation;
//     Go sizes it by its UTF-8 length, so lists Go makes hold every string
//     whole, and Python reads them. A string that is not valid UTF-8 is
//     ErrItem (Python could not decode it); a str item that is not valid
//     UTF-8, as Python 3.11 can write, reads as ErrCorrupt (Python's
//     UnicodeDecodeError).
//   - Python changes an item's format before it packs the value, so a
//     failed assignment (an int beyond 64 bits) leaves the item damaged;
//     Go checks every value before it writes anything: an error leaves the
//     list unchanged.
//   - Len and the slot geometry are read once, when the list is opened (a
//     peer cannot change them later: they are validated and copied);
//     Python's len() rereads the count. Formats and codes change with Set
//     and are read, and validated, on every Get.
//   - A str or bytes item is limited to 9,999,991 bytes, because its
//     format "<N>s" must fit 8 characters (Python's constructor asserts
//     the same).
//
// Shared memory is untrusted: OpenShareableList and AttachShareableList
// check the count and every offset against the memory (ErrBounds when the
// tables or slots would not fit, ErrCorrupt when they contradict each
// other), and Get checks the item's format and code (ErrCorrupt for one
// no writer produces, or for a format larger than its slot). Garbage gives
// an error, never a panic or a read outside the list.
//
// There is no lock: Get and Set are plain memory accesses, in Go as in
// Python. A Get concurrent with a Set of the same item, from another
// process or goroutine, can see the item half-written (a mixture of old
// and new bytes, or ErrCorrupt); within one process it is a data race.
// Items written while others read them need a lock of their own (a
// locks.Mutex in a segment both sides open) or another ordering. Apart
// from that, and from Close, which must not race with the other methods,
// a ShareableList's methods are safe for concurrent use.
type ShareableList struct {
	mem      []byte       // the list's bytes, from its first; nil once closed
	seg      *shm.Segment // the segment the list lives in, or nil
	owned    bool         // Close closes seg
	readOnly bool         // the memory is mapped read-only: Set fails
	n        int
	// slots[i] is where item i's slot starts in mem, slots[n] where the
	// data area ends; validated and copied when the list was bound.
	slots   []int
	fmtOff  int // where the formats start in mem
	codeOff int // where the codes start in mem
	// strs[i] is nil or the last string Get read from item i (see
	// getStr), always of type string.
	strs []atomic.Value
}

// Layout constants.
const (
	// slFixedSize is the slot and format size of a non-str, non-bytes item.
	slFixedSize = 8
	// slFormatSize is the size of one entry of the format table.
	slFormatSize = 8
	// slMaxSlot is the largest slot an "<N>s" format of 8 characters
	// describes.
	slMaxSlot = 9_999_999
	// slMaxData is the longest str or bytes item: its slot, 8*(len/8+1),
	// must not exceed slMaxSlot.
	slMaxData = slMaxSlot/8*8 - 1
	// slMinSize is the size of an empty list: the count and offsets[0].
	slMinSize = 16
	// slPerItem is the metadata of each item besides its slot: an offset,
	// a format and a code.
	slPerItem = 8 + slFormatSize + 1
)

// Back-transform codes, Python's _back_transforms_mapping.
const (
	slCodeValue = 0 // int, float, bool: the value as unpacked
	slCodeStr   = 1 // str: NUL-stripped, UTF-8 decoded
	slCodeBytes = 2 // bytes: NUL-stripped
	slCodeNone  = 3 // None
)

// The fixed formats, Python's _types_mapping, as they sit in the format
// table (NUL-padded to 8 bytes).
const (
	slFormatInt   = "q\x00\x00\x00\x00\x00\x00\x00"
	slFormatFloat = "d\x00\x00\x00\x00\x00\x00\x00"
	slFormatBool  = "xxxxxxx?"
	slFormatNone  = "xxxxxx?x"
)

// slBoolTrue is a true bool's slot, byte 7 set, read in native order.
var slBoolTrue = binary.NativeEndian.Uint64([]byte{0, 0, 0, 0, 0, 0, 0, 1})

// slKind is what a format describes.
type slKind uint8

const (
	slInvalid slKind = iota
	slInt
	slFloat
	slBool
	slNone
	slString // "<N>s": str or bytes, by the code
)

// slItem is an item checked and ready to write: its kind, its 8 bytes when
// fixed, its data when str or bytes.
type slItem struct {
	kind  slKind
	code  byte
	fixed uint64 // the slot's 8 bytes in native order: int, float bits; bool; None 0
	str   string // str data (code 1)
	bytes []byte // bytes data (code 2)
}

// dataLen is the length of a str or bytes item's data.
func (it *slItem) dataLen() int { return len(it.str) + len(it.bytes) }

// slotSize is the slot Python allocates for the item when it makes a list.
func (it *slItem) slotSize() int {
	if it.kind != slString {
		return slFixedSize
	}
	return slFixedSize * (it.dataLen()/slFixedSize + 1)
}

// encodeItem checks v and returns it ready to write. It allocates only
// errors, whose messages the caller prefixes.
func encodeItem(v any) (slItem, error) {
	var i int64
	switch x := v.(type) {
	case nil:
		return slItem{kind: slNone, code: slCodeNone}, nil
	case bool:
		it := slItem{kind: slBool, code: slCodeValue}
		if x {
			it.fixed = slBoolTrue
		}
		return it, nil
	case float64:
		return slItem{kind: slFloat, code: slCodeValue, fixed: math.Float64bits(x)}, nil
	case float32:
		return slItem{kind: slFloat, code: slCodeValue, fixed: math.Float64bits(float64(x))}, nil
	case string:
		if !utf8.ValidString(x) {
			return slItem{}, fmt.Errorf("string %.40q is not valid UTF-8: %w", x, ErrItem)
		}
		if len(x) > slMaxData {
			return slItem{}, fmt.Errorf("string of %d bytes: the limit is %d: %w", len(x), slMaxData, ErrTooLarge)
		}
		return slItem{kind: slString, code: slCodeStr, str: x}, nil
	case []byte:
		if len(x) > slMaxData {
			return slItem{}, fmt.Errorf("[]byte of %d bytes: the limit is %d: %w", len(x), slMaxData, ErrTooLarge)
		}
		return slItem{kind: slString, code: slCodeBytes, bytes: x}, nil
	case int64:
		i = x
	case int:
		i = int64(x)
	case int32:
		i = int64(x)
	case int16:
		i = int64(x)
	case int8:
		i = int64(x)
	case uint8:
		i = int64(x)
	case uint16:
		i = int64(x)
	case uint32:
		i = int64(x)
	case uint:
		if uint64(x) > math.MaxInt64 {
			return slItem{}, fmt.Errorf("%T %d is beyond int64: %w", x, x, ErrItem)
		}
		i = int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return slItem{}, fmt.Errorf("%T %d is beyond int64: %w", x, x, ErrItem)
		}
		i = int64(x)
	default:
		// reflect.TypeOf, not %T: v must not escape, or every caller's
		// argument would be boxed on the heap.
		return slItem{}, fmt.Errorf("a %v, not an int64, float64, bool, string, []byte or nil: %w", reflect.TypeOf(v), ErrItem)
	}
	return slItem{kind: slInt, code: slCodeValue, fixed: uint64(i)}, nil
}

// encodeItems checks items and returns them ready to write, with the size
// of the list that holds them.
func encodeItems(items []any) ([]slItem, int, error) {
	enc := make([]slItem, len(items))
	size := slMinSize
	for i, v := range items {
		it, err := encodeItem(v)
		if err != nil {
			return nil, 0, fmt.Errorf("rawarray: ShareableList item %d: %w", i, err)
		}
		enc[i] = it
		// Each term is at most slMaxSlot+17; the sum overflows an int only
		// past memory sizes no segment reaches, but check anyway.
		add := it.slotSize() + slPerItem
		if size > math.MaxInt-add {
			return nil, 0, fmt.Errorf("rawarray: ShareableList of %d items: size overflows: %w", len(items), ErrTooLarge)
		}
		size += add
	}
	return enc, size, nil
}

// ShareableListSize returns the size in bytes of a ShareableList holding
// items, as NewShareableList and PlaceShareableList lay it out (Python's
// SharedMemory size for the same items, when every string is ASCII). It
// fails as they do for an item they cannot hold.
func ShareableListSize(items []any) (int, error) {
	_, size, err := encodeItems(items)
	return size, err
}

// NewShareableList makes a ShareableList holding items in a new segment
// called name in /dev/shm (exclusively: a taken name is an error matching
// fs.ErrExist), the way Python's ShareableList(items, name=name) does, and
// returns it owning the segment. An empty name picks a random free one,
// "psm_" and 8 hex digits as Python's are (see Name). A leading "/" is
// optional; Python adds it internally.
//
// The segment stays in /dev/shm until Unlink (Python's sl.shm.unlink()).
// Items are checked first: an unsupported one is ErrItem, a str or bytes
// longer than 9,999,991 bytes ErrTooLarge.
func NewShareableList(name string, items []any) (*ShareableList, error) {
	enc, size, err := encodeItems(items)
	if err != nil {
		return nil, err
	}
	seg, err := createListSegment(name, size)
	if err != nil {
		return nil, err
	}
	b := seg.Bytes()[:size:size]
	writeList(b, enc)
	l, err := bindList(b)
	if err != nil {
		// What was just written cannot fail validation.
		_ = seg.Unlink()
		_ = seg.Close()
		return nil, fmt.Errorf("rawarray: internal error: %w", err)
	}
	l.seg, l.owned = seg, true
	return l, nil
}

// createListSegment creates the segment of a new list: called name, or
// Python's way when name is empty (random names until a free one).
func createListSegment(name string, size int) (*shm.Segment, error) {
	if name != "" {
		seg, err := shm.Create(name, int64(size), nil)
		if err != nil {
			return nil, fmt.Errorf("rawarray: new ShareableList: %w", err)
		}
		return seg, nil
	}
	for {
		var r [4]byte
		_, _ = rand.Read(r[:]) // never fails (crypto/rand)
		seg, err := shm.Create("psm_"+hex.EncodeToString(r[:]), int64(size), nil)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rawarray: new ShareableList: %w", err)
		}
		return seg, nil
	}
}

// OpenShareableList opens the ShareableList in the segment called name, made
// by NewShareableList or by Python (ShareableList(..., name=name)), and
// returns it owning a new mapping of the segment; Close releases it. A
// leading "/" is optional. A missing segment is an error matching
// fs.ErrNotExist; a segment that holds no valid list is ErrBounds or
// ErrCorrupt (see AttachShareableList).
func OpenShareableList(name string) (*ShareableList, error) {
	seg, err := shm.Open(name, nil)
	if err != nil {
		return nil, fmt.Errorf("rawarray: open ShareableList: %w", err)
	}
	l, err := bindList(seg.Bytes())
	if err != nil {
		_ = seg.Close()
		return nil, fmt.Errorf("rawarray: open ShareableList %q: %w", seg.Name(), err)
	}
	l.seg, l.owned = seg, true
	return l, nil
}

// PlaceShareableList writes a ShareableList holding items at offset off of
// mem, overwriting the ShareableListSize(items) bytes there, and returns
// it. Any offset will do (nothing in the layout needs alignment), but
// Python finds a list only at offset 0 of a segment. The list does not own
// mem: Close leaves mem alone, and mem must stay mapped while the list is
// used.
func PlaceShareableList(mem Memory, off int, items []any) (*ShareableList, error) {
	enc, size, err := encodeItems(items)
	if err != nil {
		return nil, err
	}
	b, err := listRegion(mem, off)
	if err != nil {
		return nil, err
	}
	if readOnly(mem) {
		return nil, fmt.Errorf("rawarray: place ShareableList: %w", ErrReadOnly)
	}
	if size > len(b) {
		return nil, fmt.Errorf("rawarray: ShareableList of %d bytes at offset %d: %d bytes left: %w", size, off, len(b), ErrBounds)
	}
	b = b[:size:size]
	writeList(b, enc)
	l, err := bindList(b)
	if err != nil {
		return nil, fmt.Errorf("rawarray: internal error: %w", err)
	}
	l.seg, _ = mem.(*shm.Segment)
	return l, nil
}

// AttachShareableList returns the ShareableList at offset off of mem —
// Python's ShareableList(name=...) over memory the caller mapped — after
// validating its count and offsets: ErrBounds when the offset, or the
// tables and slots the list describes, do not fit in mem; ErrCorrupt when
// they contradict each other (a negative count, decreasing offsets, a slot
// larger than any format describes). Bytes after the list are ignored. The
// list does not own mem. In read-only memory, Set returns ErrReadOnly.
func AttachShareableList(mem Memory, off int) (*ShareableList, error) {
	b, err := listRegion(mem, off)
	if err != nil {
		return nil, err
	}
	l, err := bindList(b)
	if err != nil {
		return nil, fmt.Errorf("rawarray: attach ShareableList at offset %d: %w", off, err)
	}
	l.seg, _ = mem.(*shm.Segment)
	l.readOnly = readOnly(mem)
	return l, nil
}

// listRegion returns mem's bytes from off.
func listRegion(mem Memory, off int) ([]byte, error) {
	if mem == nil {
		return nil, fmt.Errorf("rawarray: ShareableList in nil memory: %w", ErrBounds)
	}
	b := mem.Bytes()
	switch {
	case b == nil:
		return nil, fmt.Errorf("rawarray: ShareableList: memory has no bytes: %w", ErrClosed)
	case off < 0 || off > len(b):
		return nil, fmt.Errorf("rawarray: ShareableList at offset %d outside %d bytes of memory: %w", off, len(b), ErrBounds)
	}
	return b[off:], nil
}

// writeList lays out the checked items in b, which has exactly their size.
func writeList(b []byte, enc []slItem) {
	n := len(enc)
	ne := binary.NativeEndian
	ne.PutUint64(b, uint64(n))
	data := 8 * (n + 2)
	off := 0
	ne.PutUint64(b[8:], 0)
	for i := range enc {
		off += enc[i].slotSize()
		ne.PutUint64(b[8+8*(i+1):], uint64(off))
	}
	fmtOff := data + off
	codeOff := fmtOff + slFormatSize*n
	off = data
	for i := range enc {
		size := enc[i].slotSize()
		writeItem(b[off:off+size], b[fmtOff+slFormatSize*i:fmtOff+slFormatSize*(i+1)], &b[codeOff+i], &enc[i])
		off += size
	}
}

// writeItem writes it's format, code and value, in that order, as
// Python's __setitem__ does. The caller has checked that it fits slot.
func writeItem(slot, format []byte, code *byte, it *slItem) {
	switch it.kind {
	case slInt:
		copy(format, slFormatInt)
	case slFloat:
		copy(format, slFormatFloat)
	case slBool:
		copy(format, slFormatBool)
	case slNone:
		copy(format, slFormatNone)
	case slString:
		// "<N>s" with N the whole slot, which the caller has checked is
		// at most slMaxSlot: 8 characters at most. Built aside and copied
		// whole, as Python's pack_into does.
		var f [slFormatSize]byte
		b := strconv.AppendInt(f[:0:slFormatSize], int64(len(slot)), 10)
		_ = append(b, 's')
		copy(format, f[:])
	}
	*code = it.code
	switch it.kind {
	case slString:
		n := copy(slot, it.str)
		n += copy(slot[n:], it.bytes)
		clear(slot[n:])
	default:
		binary.NativeEndian.PutUint64(slot, it.fixed)
	}
}

// bindList validates the list's count and offsets in b and returns a
// handle with its own copy of them.
func bindList(b []byte) (*ShareableList, error) {
	if len(b) < slMinSize {
		return nil, fmt.Errorf("%d bytes, a ShareableList needs at least %d: %w", len(b), slMinSize, ErrBounds)
	}
	ne := binary.NativeEndian
	count := int64(ne.Uint64(b))
	if count < 0 {
		return nil, fmt.Errorf("item count %d: %w", count, ErrCorrupt)
	}
	if count > int64((len(b)-slMinSize)/slPerItem) {
		return nil, fmt.Errorf("%d items cannot fit in %d bytes: %w", count, len(b), ErrBounds)
	}
	n := int(count)
	data := 8 * (n + 2)
	room := int64(len(b) - data - (slFormatSize+1)*n) // for the slots; >= 0 by the check above
	slots := make([]int, n+1)
	prev := int64(0)
	for k := range n + 1 {
		o := int64(ne.Uint64(b[8+8*k:]))
		switch {
		case o < 0:
			return nil, fmt.Errorf("offset %d of item %d: %w", o, k, ErrCorrupt)
		case k > 0 && o < prev:
			return nil, fmt.Errorf("offset %d of item %d is before the previous item's %d: %w", o, k, prev, ErrCorrupt)
		case k > 0 && o-prev > slMaxSlot:
			return nil, fmt.Errorf("item %d has a slot of %d bytes; no format describes more than %d: %w", k-1, o-prev, slMaxSlot, ErrCorrupt)
		case o > room:
			return nil, fmt.Errorf("offset %d of item %d: %d items leave %d bytes for their slots: %w", o, k, n, room, ErrBounds)
		}
		slots[k] = data + int(o)
		prev = o
	}
	fmtOff := data + int(prev)
	return &ShareableList{
		mem:     b[: fmtOff+(slFormatSize+1)*n : fmtOff+(slFormatSize+1)*n],
		n:       n,
		slots:   slots,
		fmtOff:  fmtOff,
		codeOff: fmtOff + slFormatSize*n,
		strs:    make([]atomic.Value, n),
	}, nil
}

// Errors of the hot paths, allocated once.
var (
	errListClosed   = fmt.Errorf("rawarray: ShareableList: %w", ErrClosed)
	errListReadOnly = fmt.Errorf("rawarray: ShareableList: %w", ErrReadOnly)
)

// Len returns the number of items, fixed when the list was made.
func (l *ShareableList) Len() int { return l.n }

// Name returns the name of the segment the list lives in, without a
// leading "/" (as Python's sl.shm.name), or "" when it lives in memory
// that is not a named segment.
func (l *ShareableList) Name() string {
	if l.seg == nil {
		return ""
	}
	return l.seg.Name()
}

// index turns a Python index (negative counts from the end) into a
// position, or fails with ErrIndex.
func (l *ShareableList) index(i int) (int, error) {
	j := i
	if j < 0 {
		j += l.n
	}
	if uint(j) >= uint(l.n) {
		return 0, fmt.Errorf("rawarray: ShareableList index %d out of range for length %d: %w", i, l.n, ErrIndex)
	}
	return j, nil
}

// Get returns item i: an int64, float64, bool, string, []byte (a copy) or
// nil. A negative i counts from the end, as in Python. Errors: ErrIndex
// for i outside [-Len(), Len()); ErrCorrupt when the item's format or code
// is one no writer produces, its format does not fit its slot, or a str
// item is not valid UTF-8; ErrClosed after Close.
//
// The list keeps the last string read from each item and returns it again
// while the item's bytes are unchanged, so polling a str item does not
// allocate; a changed item costs the string and its interface.
func (l *ShareableList) Get(i int) (any, error) {
	if l.mem == nil {
		return nil, errListClosed
	}
	j, err := l.index(i)
	if err != nil {
		return nil, err
	}
	// Read the peer-written format and code once; everything after
	// depends on these copies and on the validated slot bounds.
	format := binary.LittleEndian.Uint64(l.mem[l.fmtOff+slFormatSize*j:])
	code := l.mem[l.codeOff+j]
	slot := l.mem[l.slots[j]:l.slots[j+1]]
	kind, size := parseFormat(format)
	var v any
	switch {
	case kind == slInvalid:
		err = l.corrupt(j, format, code, "an unknown format")
	case size > len(slot):
		err = l.corrupt(j, format, code, fmt.Sprintf("a format larger than its %d-byte slot", len(slot)))
	case code == slCodeNone:
		v = nil // Python unpacks, then returns None whatever the format
	case code == slCodeValue && kind == slInt:
		v = int64(binary.NativeEndian.Uint64(slot))
	case code == slCodeValue && kind == slFloat:
		v = math.Float64frombits(binary.NativeEndian.Uint64(slot))
	case code == slCodeValue && kind == slBool:
		v = slot[7] != 0
	case code == slCodeStr && kind == slString:
		v, err = l.getStr(j, format, bytes.TrimRight(slot[:size], "\x00"))
	case code == slCodeBytes && kind == slString:
		s := bytes.TrimRight(slot[:size], "\x00")
		c := make([]byte, len(s))
		copy(c, s)
		v = c
	default:
		err = l.corrupt(j, format, code, "a format and code that do not go together")
	}
	runtime.KeepAlive(l) // l's segment stays mapped until the reads are done
	return v, err
}

// getStr returns a str item's value, s. A string in an interface costs two
// allocations (the bytes, the string header), more than the rest of Get
// together, and reading an unchanged item again is the common case
// (polling a status, a setting): so the last string read from each item
// is kept, in its interface, and returned again while the item's bytes
// are equal to it. Equal bytes are the same value, so the cache is
// invisible but for speed; a miss costs what Get would cost without it
// (atomic.Value stores the interface as it is).
func (l *ShareableList) getStr(j int, format uint64, s []byte) (any, error) {
	v := l.strs[j].Load()
	if c, ok := v.(string); ok && string(s) == c { // compares without allocating
		return v, nil
	}
	if !utf8.Valid(s) {
		return nil, l.corrupt(j, format, slCodeStr, "a str that is not valid UTF-8")
	}
	v = string(s)
	l.strs[j].Store(v)
	return v, nil
}

func (l *ShareableList) corrupt(i int, format uint64, code byte, what string) error {
	var f [8]byte
	binary.LittleEndian.PutUint64(f[:], format)
	return fmt.Errorf("rawarray: ShareableList item %d (format %q, code %d): %s: %w",
		i, bytes.TrimRight(f[:], "\x00"), int8(code), what, ErrCorrupt)
}

// parseFormat recognizes the formats Python's ShareableList writes, given
// as the 8 bytes of the format table read little-endian, and returns what
// each describes and its size. Anything else is slInvalid.
func parseFormat(f uint64) (slKind, int) {
	switch f {
	case slFormatWord(slFormatInt):
		return slInt, slFixedSize
	case slFormatWord(slFormatFloat):
		return slFloat, slFixedSize
	case slFormatWord(slFormatBool):
		return slBool, slFixedSize
	case slFormatWord(slFormatNone):
		return slNone, slFixedSize
	}
	// "<N>s", NUL-padded: digits, an 's', then only NULs. Python's struct
	// would take other formats too (a bare "s", "0q"); Python never
	// writes them, and they are refused.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], f)
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	if end < 2 || b[end-1] != 's' {
		return slInvalid, 0
	}
	n := 0
	for _, c := range b[:end-1] {
		if c < '0' || c > '9' {
			return slInvalid, 0
		}
		n = n*10 + int(c-'0') // at most 7 digits: no overflow
	}
	return slString, n
}

// slFormatWord is a fixed format as parseFormat receives it.
func slFormatWord(f string) uint64 {
	return uint64(f[0]) | uint64(f[1])<<8 | uint64(f[2])<<16 | uint64(f[3])<<24 |
		uint64(f[4])<<32 | uint64(f[5])<<40 | uint64(f[6])<<48 | uint64(f[7])<<56
}

// Set replaces item i with v, which may be of another type than the item
// it replaces, as in Python. A negative i counts from the end. v is an
// int64, float64, bool, string, []byte or nil, or another Go integer type
// or float32 (see ShareableList). Errors, each leaving the list unchanged:
// ErrIndex for i outside [-Len(), Len()); ErrItem for a value of another
// type, an unsigned integer above math.MaxInt64 or a string that is not
// valid UTF-8; ErrTooLarge for a string or []byte longer than the item's
// slot (Python's ValueError "bytes/str item exceeds available storage");
// ErrReadOnly in read-only memory; ErrClosed after Close.
//
// A string or []byte shorter than its slot is NUL-padded, so trailing NUL
// bytes of the value do not survive (see ShareableList).
func (l *ShareableList) Set(i int, v any) error {
	if l.mem == nil {
		return errListClosed
	}
	if l.readOnly {
		return errListReadOnly
	}
	j, err := l.index(i)
	if err != nil {
		return err
	}
	it, err := encodeItem(v)
	if err != nil {
		return fmt.Errorf("rawarray: ShareableList item %d: %w", i, err)
	}
	slot := l.mem[l.slots[j]:l.slots[j+1]]
	if it.kind == slString {
		if n := it.dataLen(); n > len(slot) {
			return fmt.Errorf("rawarray: ShareableList item %d: %d bytes exceed its %d-byte slot: %w", i, n, len(slot), ErrTooLarge)
		}
	} else if len(slot) < slFixedSize {
		// Only in a list no Python or Go made: every slot they size is 8
		// bytes or more.
		return fmt.Errorf("rawarray: ShareableList item %d: 8 bytes exceed its %d-byte slot: %w", i, len(slot), ErrTooLarge)
	}
	f := l.fmtOff + slFormatSize*j
	writeItem(slot, l.mem[f:f+slFormatSize], &l.mem[l.codeOff+j], &it)
	runtime.KeepAlive(l)
	return nil
}

// Format returns the struct formats of all items, concatenated: Python's
// sl.format, as "8sqd" for ["a", 1, 2.5]. The formats are read as they are
// in memory now, unchecked; "" after Close.
func (l *ShareableList) Format() string {
	if l.mem == nil {
		return ""
	}
	b := make([]byte, 0, slFormatSize*l.n)
	for j := range l.n {
		f := l.mem[l.fmtOff+slFormatSize*j : l.fmtOff+slFormatSize*(j+1)]
		b = append(b, bytes.TrimRight(f, "\x00")...)
	}
	runtime.KeepAlive(l)
	return string(b)
}

// Close releases the list's mapping when it owns one (NewShareableList,
// OpenShareableList); a list in the caller's memory just stops using it.
// The segment stays in /dev/shm (see Unlink). Close is idempotent; it must
// not race with the list's other methods, and afterwards they return
// ErrClosed.
func (l *ShareableList) Close() error {
	if l.mem == nil {
		return nil
	}
	l.mem, l.strs = nil, nil
	if !l.owned {
		return nil
	}
	if err := l.seg.Close(); err != nil {
		return fmt.Errorf("rawarray: close ShareableList: %w", err)
	}
	return nil
}

// Unlink removes the name of the segment the list owns (NewShareableList,
// OpenShareableList) from /dev/shm, as Python's sl.shm.unlink(); mappings
// stay valid until closed. It may be called before or after Close; a name
// already gone is an error matching fs.ErrNotExist. For a list in the
// caller's memory it does nothing.
func (l *ShareableList) Unlink() error {
	if !l.owned || l.seg.Name() == "" {
		return nil
	}
	if err := l.seg.Unlink(); err != nil {
		return fmt.Errorf("rawarray: unlink ShareableList: %w", err)
	}
	return nil
}

// String describes the list for logs.
func (l *ShareableList) String() string {
	return fmt.Sprintf("rawarray.ShareableList(%d items, name %q)", l.n, l.Name())
}
