package rawarray

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

// Ref is a reference to an object in a shared segment, small and
// serializable, that another process turns back into a working object
// with OpenValue, OpenArray and the like. It is what a parent hands a
// child: as JSON (the field names below), as bytes (MarshalBinary), or as
// plain fields of a message.
//
// A Ref names its segment in one of two ways. A named segment is opened by
// Name. An anonymous (memfd) segment has no name: the process that opens
// the Ref must have inherited a descriptor of it, and Fd is that
// descriptor's number in the opening process. Ref returns Fd -1, because
// the number is only known once the descriptor is passed: get one with the
// object's File method, pass it (exec.Cmd.ExtraFiles, proctest.Options.Files
// or SCM_RIGHTS), and set Fd on the receiving side or before sending (3
// for the first of ExtraFiles). Opening tries, in order: Seg, the
// segment's own reference, when set and Fd is -1 — it opens through this
// process's mapping or a descriptor package fork handed over (so a Fork
// child opens objects whose segment name was unlinked) and falls back to
// the name; then Name; then Fd.
//
// The other fields describe the object, so that opening checks it found
// what the sender meant: Kind and Code must fit the type opened (ErrKind,
// ErrType), and the header found at Offset must have the same Code,
// ElemSize and Len (ErrRef).
type Ref struct {
	Kind     Kind   `json:"kind"`           // what the object is
	Code     string `json:"code"`           // Python type code of its elements
	ElemSize int    `json:"elemSize"`       // element size in bytes
	Len      int    `json:"len"`            // element count, 1 for values
	Offset   int64  `json:"offset"`         // where the object starts in the segment
	Name     string `json:"name,omitempty"` // segment name, or "" for a descriptor
	Fd       int    `json:"fd"`             // descriptor number when Name is "", else -1
	// Seg is the segment's own reference (shm.Ref), used when Name is ""
	// and Fd is -1: it opens in this process and in children that
	// inherited the segment through package fork (shm.Adopt). The binary
	// encoding does not carry it.
	Seg shm.Ref `json:"seg,omitzero"`
}

// refVersion is the first byte of the binary encoding.
const refVersion = 1

// refFixed is the size of the binary encoding without the name.
const refFixed = 26

// String describes r for logs, as "Array<d>[100] at 64 in segment "x"".
func (r Ref) String() string {
	where := "segment " + strconv.Quote(r.Name)
	if r.Name == "" {
		where = "descriptor " + strconv.Itoa(r.Fd)
	}
	shape := ""
	if r.Kind.isArray() {
		shape = "[" + strconv.Itoa(r.Len) + "]"
	}
	return fmt.Sprintf("%s<%s>%s at %d in %s", r.Kind, r.Code, shape, r.Offset, where)
}

// AppendBinary appends the binary encoding of r to b. The encoding, in
// little-endian byte order:
//
//	offset size field
//	0      1    format version, 1
//	1      1    kind
//	2      1    type code (ASCII), 0 for none
//	3      1    name length, 0 to 255
//	4      4    fd, signed
//	8      8    offset, signed
//	16     8    length, signed
//	24     2    element size
//	26     ...  name
func (r Ref) AppendBinary(b []byte) ([]byte, error) {
	switch {
	case !r.Kind.valid():
		return nil, fmt.Errorf("rawarray: encode reference: kind %d: %w", uint8(r.Kind), ErrRef)
	case len(r.Code) > 1:
		return nil, fmt.Errorf("rawarray: encode reference: type code %q: %w", r.Code, ErrRef)
	case len(r.Name) > math.MaxUint8:
		return nil, fmt.Errorf("rawarray: encode reference: name of %d bytes: %w", len(r.Name), ErrRef)
	case r.Fd < math.MinInt32 || r.Fd > math.MaxInt32:
		return nil, fmt.Errorf("rawarray: encode reference: fd %d: %w", r.Fd, ErrRef)
	case r.ElemSize < 0 || r.ElemSize > math.MaxUint16:
		return nil, fmt.Errorf("rawarray: encode reference: element size %d: %w", r.ElemSize, ErrRef)
	}
	var code byte
	if r.Code != "" {
		code = r.Code[0]
	}
	b = append(b, refVersion, byte(r.Kind), code, byte(len(r.Name)))
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(r.Fd)))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Offset))
	b = binary.LittleEndian.AppendUint64(b, uint64(int64(r.Len)))
	b = binary.LittleEndian.AppendUint16(b, uint16(r.ElemSize))
	return append(b, r.Name...), nil
}

// MarshalBinary encodes r as AppendBinary describes.
func (r Ref) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, refFixed+len(r.Name)))
}

// UnmarshalBinary decodes what MarshalBinary encoded. Any other input is an
// error wrapping ErrRef; r is unchanged then.
func (r *Ref) UnmarshalBinary(b []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rawarray: decode reference: "+format+": %w", append(args, ErrRef)...)
	}
	if len(b) < refFixed {
		return bad("%d bytes, at least %d needed", len(b), refFixed)
	}
	if b[0] != refVersion {
		return bad("format version %d, this package reads %d", b[0], refVersion)
	}
	k := Kind(b[1])
	if !k.valid() {
		return bad("kind %d", b[1])
	}
	var code string
	if b[2] != 0 {
		t, err := ctypes.Lookup(string(b[2:3]))
		if err != nil {
			return bad("type code %q", b[2:3])
		}
		code = t.Code
	}
	if n := int(b[3]); len(b) != refFixed+n {
		return bad("%d bytes for a name of %d", len(b), n)
	}
	n := int64(binary.LittleEndian.Uint64(b[16:]))
	if n < 0 || n != int64(int(n)) {
		return bad("length %d", n)
	}
	*r = Ref{
		Kind:     k,
		Code:     code,
		ElemSize: int(binary.LittleEndian.Uint16(b[24:])),
		Len:      int(n),
		Offset:   int64(binary.LittleEndian.Uint64(b[8:])),
		Name:     string(b[refFixed:]),
		Fd:       int(int32(binary.LittleEndian.Uint32(b[4:]))),
	}
	return nil
}
