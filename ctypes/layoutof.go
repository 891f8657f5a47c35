package ctypes

import (
	"fmt"
	"reflect"
	"strings"
)

// LayoutOf returns the memory layout of the Go struct type T, as Go lays it
// out on the running platform, described in C terms: field names are the Go
// names, offsets, size and alignment are Go's, and element types map as
// TypeOf says. Layout.Name is T's name, empty for an unnamed struct.
//
// Arrays of arrays are flattened into one array ([2][8]byte becomes
// unsigned char x[16]: same bytes, same alignment). Fields of size zero
// (struct{}, [0]T) are left out: C has no such fields. They still count in
// Size and Align, which are Go's; note that Go pads a struct whose last field
// has size zero, so its Size can exceed C's for the same fields.
//
// T must be a struct (ErrUnsupported), hold no Go pointers (ErrPointers)
// and hold no complex numbers (ErrUnsupported).
func LayoutOf[T any]() (Layout, error) {
	t := reflect.TypeFor[T]()
	if err := pointerFree(t); err != nil {
		return Layout{}, err
	}
	if t.Kind() != reflect.Struct {
		return Layout{}, fmt.Errorf("ctypes: LayoutOf[%s]: not a struct: %w", t, ErrUnsupported)
	}
	l, err := layoutOfStruct(t)
	if err != nil {
		return Layout{}, fmt.Errorf("ctypes: LayoutOf[%s]: %s: %w", t, err, ErrUnsupported)
	}
	return l, nil
}

// layoutOfStruct returns the layout of the pointer-free struct type t.
func layoutOfStruct(t reflect.Type) (Layout, error) {
	l := Layout{Name: t.Name(), Size: int(t.Size()), Align: t.Align()}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type.Size() == 0 {
			continue
		}
		f := Field{
			Name:   sf.Name,
			Offset: int(sf.Offset),
			Size:   int(sf.Type.Size()),
			Align:  sf.Type.FieldAlign(),
		}
		// The field has non-zero size, so every array length on the way
		// down is positive and their product is at most f.Size.
		elem := sf.Type
		for ; elem.Kind() == reflect.Array; elem = elem.Elem() {
			f.Len = f.elems() * elem.Len()
		}
		if elem.Kind() == reflect.Struct {
			nested, err := layoutOfStruct(elem)
			if err != nil {
				return Layout{}, fmt.Errorf("%s.%w", sf.Name, err)
			}
			f.Struct = &nested
		} else {
			et, ok := typeOfKind(elem.Kind())
			if !ok {
				return Layout{}, fmt.Errorf("%s has type %s, which has no C type here", sf.Name, sf.Type)
			}
			f.Type = et
		}
		l.Fields = append(l.Fields, f)
	}
	return l, nil
}

// CheckLayout reports whether the Go struct type T has the memory layout l,
// typically one computed by StructLayout or ParseFormat for a struct that C
// or Python code writes, so that View[T] reads it correctly.
//
// Fields are matched in order, not by name (Go names are usually
// capitalized), skipping fields named "_" on both sides, which are explicit
// padding. Matching fields must have the same offset, element count (a
// single element counts as an array of one), and element: nested structs
// match recursively, and scalars must have the same size and the same kind
// of value (signed, unsigned, floating point, _Bool; a C char matches any
// one-byte integer). Then the sizes and alignments must be equal.
//
// The error names the first mismatch and wraps ErrMismatch, or is LayoutOf's
// error for T.
func CheckLayout[T any](l Layout) error {
	g, err := LayoutOf[T]()
	if err != nil {
		return err
	}
	if why := mismatch(l, g, ""); why != "" {
		return fmt.Errorf("ctypes: CheckLayout[%s]: %s: %w", reflect.TypeFor[T](), why, ErrMismatch)
	}
	return nil
}

// mismatch returns the first difference between the C layout c and the Go
// layout g, or "" if they match. prefix is the path of the enclosing field.
func mismatch(c, g Layout, prefix string) string {
	cf, gf := namedFields(c.Fields), namedFields(g.Fields)
	for i := range max(len(cf), len(gf)) {
		if i >= len(gf) {
			return fmt.Sprintf("C field %s%s at offset %d has no Go field", prefix, cf[i].Name, cf[i].Offset)
		}
		if i >= len(cf) {
			return fmt.Sprintf("Go field %s%s at offset %d has no C field", prefix, gf[i].Name, gf[i].Offset)
		}
		a, b := cf[i], gf[i]
		name := prefix + a.Name
		if b.Name != a.Name {
			name += " (Go " + b.Name + ")"
		}
		switch {
		case a.Offset != b.Offset:
			return fmt.Sprintf("field %s: offset %d in C, %d in Go", name, a.Offset, b.Offset)
		case a.Struct != nil && b.Struct == nil:
			return fmt.Sprintf("field %s: struct in C, %s in Go", name, b.Type.CName)
		case a.Struct == nil && b.Struct != nil:
			return fmt.Sprintf("field %s: %s in C, struct in Go", name, a.Type.CName)
		case a.elems() != b.elems():
			return fmt.Sprintf("field %s: %d elements in C, %d in Go", name, a.elems(), b.elems())
		case a.Struct != nil:
			if why := mismatch(*a.Struct, *b.Struct, prefix+a.Name+"."); why != "" {
				return why
			}
		case !sameScalar(a.Type, b.Type):
			return fmt.Sprintf("field %s: %s (%d bytes) in C, Go type is like %s (%d bytes)",
				name, a.Type.CName, a.Type.Size, b.Type.CName, b.Type.Size)
		}
	}
	where := "struct"
	if prefix != "" {
		where = "struct " + strings.TrimSuffix(prefix, ".")
	}
	if c.Size != g.Size {
		return fmt.Sprintf("%s: size %d in C, %d in Go", where, c.Size, g.Size)
	}
	if c.Align != g.Align {
		return fmt.Sprintf("%s: alignment %d in C, %d in Go", where, c.Align, g.Align)
	}
	return ""
}

// sameScalar reports whether a value of type b reads a value of type a.
func sameScalar(a, b Type) bool {
	if a.Size != b.Size {
		return false
	}
	ca, cb := a.class(), b.class()
	if ca == classChar {
		ca, cb = cb, ca
	}
	if cb == classChar {
		return ca == classChar || ca == classSigned || ca == classUnsigned
	}
	return ca == cb
}

// namedFields returns fs without fields named "_".
func namedFields(fs []Field) []Field {
	out := make([]Field, 0, len(fs))
	for _, f := range fs {
		if f.Name != "_" {
			out = append(out, f)
		}
	}
	return out
}
