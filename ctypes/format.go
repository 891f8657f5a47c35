package ctypes

import (
	"fmt"
	"math"
	"strconv"
)

// ParseFormat returns the layout of the values a Python struct format
// string describes with native alignment ("@", the default): what
// struct.pack_into(format, buf, 0, ...) writes and struct.unpack_from reads.
//
// Supported: an optional leading "@"; whitespace between items; decimal
// repeat counts; the codes c b B h H i I l L q Q f d ? of Lookup; "x" (a pad
// byte); "s" and "p" (a char array of the count's length). Other byte orders
// ("=", "<", ">", "!") use standard sizes and no alignment, which is not a C
// layout, and are rejected, as are the codes e n N P.
//
// Fields are named after the index of the first value struct.unpack returns
// for them: "f0", "f1", ... A repeated code becomes an array ("3i" is
// int fK[3], values K to K+2); "s" and "p" always become a char array (one
// value); "x" and zero counts make no field. A zero count still aligns, as
// in Python ("c0i" ends at offset 4).
//
// Offsets are Python's. Size is the C sizeof of the equivalent struct, the
// end rounded up to the largest alignment, while Python's struct.calcsize
// leaves out that trailing padding: CalcSize returns Python's number.
//
// Errors wrap ErrFormat.
func ParseFormat(format string) (Layout, error) {
	l := Layout{Fields: []Field{}}
	end, align, err := parseFormat(format, &l)
	if err != nil {
		return Layout{}, err
	}
	l.Size, _ = roundUp(end, align) // cannot overflow: parseFormat keeps end <= MaxInt-8
	l.Align = align
	return l, nil
}

// CalcSize returns the number of bytes Python's struct.calcsize(format)
// returns: the end of the last value, without trailing padding. It accepts
// the formats ParseFormat does.
func CalcSize(format string) (int, error) {
	end, _, err := parseFormat(format, nil)
	return end, err
}

// parseFormat walks format the way CPython's struct module does (prepare_s
// in Modules/_struct.c) and returns the end offset of the last value and the
// largest alignment seen. If l is not nil it appends a field to l.Fields for
// each value-holding item.
func parseFormat(format string, l *Layout) (end, align int, err error) {
	fail := func(pos int, why string) error {
		return fmt.Errorf("ctypes: format %q at %d: %s: %w", format, pos, why, ErrFormat)
	}
	s, start := format, 0
	if s != "" {
		switch s[0] {
		case '@':
			start = 1
		case '=', '<', '>', '!':
			return 0, 0, fail(0, fmt.Sprintf("byte order %q: only native alignment '@' is supported", s[0]))
		}
	}
	off, item := 0, 0
	align = 1
	for i := start; i < len(s); {
		c := s[i]
		if isSpace(c) {
			i++
			continue
		}
		pos, n := i, 1
		if '0' <= c && c <= '9' {
			n = 0
			for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
				d := int(s[i] - '0')
				if n > (math.MaxInt-d)/10 {
					return 0, 0, fail(pos, "repeat count overflows int")
				}
				n = n*10 + d
			}
			if i == len(s) {
				return 0, 0, fail(pos, "repeat count given without format specifier")
			}
			c = s[i] // Python allows no space between a count and its code.
		}
		i++
		var t Type
		switch c {
		case 'x', 's', 'p':
			t = mustLookup("c")
		default:
			var err error
			if t, err = Lookup(string(c)); err != nil {
				return 0, 0, fail(i-1, fmt.Sprintf("bad char %q in struct format", c))
			}
		}
		off, _ = roundUp(off, t.Align) // off+Align-1 fits: off <= MaxInt-8 below
		align = max(align, t.Align)
		if n > (math.MaxInt-8-off)/t.Size {
			return 0, 0, fail(pos, "total struct size overflows int")
		}
		switch {
		case c == 'x':
		case c == 's' || c == 'p':
			if n > 0 && l != nil {
				l.Fields = append(l.Fields, Field{Name: "f" + strconv.Itoa(item), Type: t, Len: n, Offset: off, Size: n, Align: 1})
			}
			item++
		case n > 0:
			if l != nil {
				f := Field{Name: "f" + strconv.Itoa(item), Type: t, Offset: off, Size: n * t.Size, Align: t.Align}
				if n > 1 {
					f.Len = n
				}
				l.Fields = append(l.Fields, f)
			}
			item += n
		}
		off += n * t.Size
	}
	return off, align, nil
}

// isSpace reports whether c is whitespace to Python's struct module.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
