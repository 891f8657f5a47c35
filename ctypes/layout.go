package ctypes

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Layout describes the memory layout of a C struct: its fields, each at an
// offset, and the struct's size and alignment.
//
// Layouts are values; treat one, and the Fields and nested Layouts it
// refers to, as read-only once built.
type Layout struct {
	Name   string  // struct tag for String; may be empty
	Fields []Field // in memory order
	Size   int     // sizeof: the end of the last field, rounded up to Align (LayoutOf: Go's size)
	Align  int     // the largest field alignment; 1 for a struct without fields
}

// Field is one member of a Layout. Its element is either a scalar (Type) or
// a nested struct (Struct); Len > 0 makes it an array of Len elements.
type Field struct {
	Name   string
	Type   Type    // element type of a scalar field; the zero Type when Struct is set
	Struct *Layout // element layout of a struct field; nil for a scalar field
	Len    int     // array length; 0 for a single element
	Offset int     // bytes from the start of the enclosing struct
	Size   int     // bytes of the whole field, every element included
	Align  int     // alignment of the element, and so of the field
}

// elems returns the number of elements of f: 1 for a non-array.
func (f Field) elems() int { return max(f.Len, 1) }

// FieldSpec describes a field for StructLayout: a Name, an element that is
// either a scalar type Code or a nested Struct, and an optional array length.
//
//	{Name: "id", Code: "i"}              int id;
//	{Name: "name", Code: "c", Len: 16}   char name[16];
//	{Name: "pos", Struct: &point}        struct point pos;
type FieldSpec struct {
	Name   string
	Code   string  // Python type code of a scalar element; "" when Struct is set
	Struct *Layout // nested struct element; nil when Code is set
	Len    int     // array length; 0 for a single element
}

// StructLayout lays fields out by the C rules, as a C compiler does on the
// running platform: each field starts at the next multiple of its
// alignment, the struct's alignment is the largest of its fields', and its
// size is rounded up to a multiple of that alignment (trailing padding).
//
// Each field needs a non-empty name, unique except for "_" (which may repeat
// and is skipped by CheckLayout, for explicit padding), and exactly one of
// Code and Struct. A nested Layout must have a positive power-of-two Align and
// a Size that is a multiple of it, as every Layout this package returns has.
// A struct without fields has size 0 and alignment 1, as in GNU C.
// Violations are errors wrapping ErrLayout.
func StructLayout(fields ...FieldSpec) (Layout, error) {
	l := Layout{Fields: make([]Field, 0, len(fields)), Align: 1}
	seen := make(map[string]bool, len(fields))
	end := 0
	for i, s := range fields {
		f, err := newField(s)
		if err != nil {
			return Layout{}, fmt.Errorf("ctypes: StructLayout: field %d (%q): %s: %w", i, s.Name, err, ErrLayout)
		}
		if seen[f.Name] {
			return Layout{}, fmt.Errorf("ctypes: StructLayout: field %d: duplicate name %q: %w", i, f.Name, ErrLayout)
		}
		if f.Name != "_" {
			seen[f.Name] = true
		}
		off, ok := roundUp(end, f.Align)
		if !ok || f.Size > math.MaxInt-off {
			return Layout{}, fmt.Errorf("ctypes: StructLayout: field %d (%q): struct size overflows int: %w", i, s.Name, ErrLayout)
		}
		f.Offset = off
		end = off + f.Size
		l.Align = max(l.Align, f.Align)
		l.Fields = append(l.Fields, f)
	}
	size, ok := roundUp(end, l.Align)
	if !ok {
		return Layout{}, fmt.Errorf("ctypes: StructLayout: struct size overflows int: %w", ErrLayout)
	}
	l.Size = size
	return l, nil
}

// newField returns the field s describes, without its offset, or a reason it
// is invalid.
func newField(s FieldSpec) (Field, error) {
	f := Field{Name: s.Name, Len: s.Len}
	if s.Name == "" {
		return f, errors.New("no name")
	}
	if s.Len < 0 {
		return f, fmt.Errorf("negative array length %d", s.Len)
	}
	var elemSize int
	switch {
	case s.Code != "" && s.Struct != nil:
		return f, fmt.Errorf("both type code %q and a nested struct", s.Code)
	case s.Struct != nil:
		n := *s.Struct
		if n.Align <= 0 || n.Align&(n.Align-1) != 0 {
			return f, fmt.Errorf("nested struct alignment %d is not a power of two", n.Align)
		}
		if n.Size < 0 || n.Size%n.Align != 0 {
			return f, fmt.Errorf("nested struct size %d is not a multiple of its alignment %d", n.Size, n.Align)
		}
		f.Struct, f.Align, elemSize = &n, n.Align, n.Size
	default:
		t, err := Lookup(s.Code)
		if err != nil {
			return f, fmt.Errorf("type code %q unknown", s.Code)
		}
		f.Type, f.Align, elemSize = t, t.Align, t.Size
	}
	if elemSize > 0 && f.elems() > math.MaxInt/elemSize {
		return f, fmt.Errorf("%d elements of %d bytes overflow int", f.elems(), elemSize)
	}
	f.Size = elemSize * f.elems()
	return f, nil
}

// roundUp returns x rounded up to a multiple of the power of two a, and
// whether that fits in an int.
func roundUp(x, a int) (int, bool) {
	if x > math.MaxInt-(a-1) {
		return 0, false
	}
	return (x + a - 1) &^ (a - 1), true
}

// FieldByName returns the field named by path, with its Offset from the
// start of l. A dotted path ("pos.x") names a field of a nested struct; when
// that struct field is an array, the path goes into its first element.
func (l Layout) FieldByName(path string) (Field, bool) {
	base := 0
	for {
		name, rest, nested := strings.Cut(path, ".")
		f, ok := l.field(name)
		if !ok {
			return Field{}, false
		}
		if !nested {
			f.Offset += base
			return f, true
		}
		if f.Struct == nil {
			return Field{}, false
		}
		base += f.Offset
		l, path = *f.Struct, rest
	}
}

func (l Layout) field(name string) (Field, bool) {
	for _, f := range l.Fields {
		if f.Name == name && name != "_" {
			return f, true
		}
	}
	return Field{}, false
}

// String returns l as a C struct definition, with each field's offset and
// size, and the padding between fields, in comments:
//
//	struct rec {
//	    int id;         /* offset 0, size 4 */
//	    /* 4 bytes padding */
//	    double score;   /* offset 8, size 8 */
//	};                  /* size 16, align 8 */
//
// Offsets in a nested struct are from the start of that struct.
func (l Layout) String() string {
	var lines []line
	lines = l.lines(lines, "", "")
	width := 0
	for _, ln := range lines {
		if ln.comment != "" {
			width = max(width, len(ln.code))
		}
	}
	var b strings.Builder
	for _, ln := range lines {
		b.WriteString(ln.code)
		if ln.comment != "" {
			b.WriteString(strings.Repeat(" ", width-len(ln.code)+1))
			b.WriteString(ln.comment)
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// line is one line of String's output: C code and an aligned comment.
type line struct{ code, comment string }

// lines appends l's definition, indented by indent and closed by "}" +
// declarator + ";", to lines.
func (l Layout) lines(lines []line, indent, declarator string) []line {
	open := "struct {"
	if l.Name != "" {
		open = "struct " + l.Name + " {"
	}
	lines = append(lines, line{code: indent + open})
	in := indent + "    "
	end := 0
	pad := func(to int) {
		switch {
		case to == end+1:
			lines = append(lines, line{code: in + "/* 1 byte padding */"})
		case to > end:
			lines = append(lines, line{code: in + fmt.Sprintf("/* %d bytes padding */", to-end)})
		}
	}
	for _, f := range l.Fields {
		pad(f.Offset)
		decl := f.Name
		if f.Len > 0 {
			decl += "[" + strconv.Itoa(f.Len) + "]"
		}
		comment := fmt.Sprintf("/* offset %d, size %d */", f.Offset, f.Size)
		if f.Struct != nil {
			lines = f.Struct.lines(lines, in, " "+decl)
			lines[len(lines)-1].comment = comment
		} else {
			lines = append(lines, line{code: in + f.Type.CName + " " + decl + ";", comment: comment})
		}
		end = max(end, f.Offset+f.Size)
	}
	pad(l.Size)
	return append(lines, line{
		code:    indent + "}" + declarator + ";",
		comment: fmt.Sprintf("/* size %d, align %d */", l.Size, l.Align),
	})
}
