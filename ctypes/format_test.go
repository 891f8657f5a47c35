package ctypes_test

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
)

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		format         string
		offsets        []int
		lens           []int // Len of each field
		calc, size, al int
	}{
		{"", nil, nil, 0, 0, 1},
		{"@", nil, nil, 0, 0, 1},
		{"@iqd16s?", []int{0, 8, 16, 24, 40}, []int{0, 0, 0, 16, 0}, 41, 48, 8},
		{"ci", []int{0, 4}, []int{0, 0}, 8, 8, 4},
		{"ic", []int{0, 4}, []int{0, 0}, 5, 8, 4},
		{"c0i", []int{0}, []int{0}, 4, 4, 4},
		{"ci0q", []int{0, 4}, []int{0, 0}, 8, 8, 8},
		{"3c", []int{0}, []int{3}, 3, 3, 1},
		{"b2h3i", []int{0, 2, 8}, []int{0, 2, 3}, 20, 20, 4},
		{"3xd", []int{8}, []int{0}, 16, 16, 8},
		{" h h\ti\n", []int{0, 2, 4}, []int{0, 0, 0}, 8, 8, 4},
		{"s0sp5p", []int{0, 1, 2}, []int{1, 1, 5}, 7, 7, 1},
		{"100c", []int{0}, []int{100}, 100, 100, 1},
	} {
		l, err := ctypes.ParseFormat(tc.format)
		if err != nil {
			t.Errorf("ParseFormat(%q): %v", tc.format, err)
			continue
		}
		var lens []int
		for _, f := range l.Fields {
			lens = append(lens, f.Len)
		}
		calc, err := ctypes.CalcSize(tc.format)
		if err != nil || !equalInts(offsets(l), tc.offsets) || !equalInts(lens, tc.lens) ||
			calc != tc.calc || l.Size != tc.size || l.Align != tc.al {
			t.Errorf("%q: offsets %v lens %v calcsize %d (%v) size %d align %d; want %v %v %d %d %d",
				tc.format, offsets(l), lens, calc, err, l.Size, l.Align, tc.offsets, tc.lens, tc.calc, tc.size, tc.al)
		}
	}
}

func TestParseFormatNames(t *testing.T) {
	l, err := ctypes.ParseFormat("i3hx2s0q?")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range l.Fields {
		names = append(names, f.Name)
	}
	// Values: i=0, h=1..3, s=4, ?=5.
	if got := strings.Join(names, " "); got != "f0 f1 f4 f5" {
		t.Errorf("names %q", got)
	}
}

func TestParseFormatErrors(t *testing.T) {
	for format, want := range map[string]string{
		"3":                        "repeat count given without format specifier",
		"z":                        `bad char 'z'`,
		"3 i":                      `bad char ' '`,
		"i@":                       `bad char '@'`,
		"<i":                       "byte order '<'",
		"!i":                       "byte order '!'",
		"e":                        `bad char 'e'`,
		"P":                        `bad char 'P'`,
		"99999999999999999999999c": "repeat count overflows int",
		"9223372036854775000c999q": "total struct size overflows int",
		"4611686018427387904h":     "total struct size overflows int",
	} {
		for _, err := range []error{parseErr(format), calcErr(format)} {
			if !errors.Is(err, ctypes.ErrFormat) || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v, want ErrFormat with %q", format, err, want)
			}
		}
	}
}

func parseErr(format string) error {
	_, err := ctypes.ParseFormat(format)
	return err
}

func calcErr(format string) error {
	_, err := ctypes.CalcSize(format)
	return err
}

// pythonFormats are checked against CPython's struct module.
var pythonFormats = []string{
	"", "@", "c", "ci", "ic", "cq", "c0q", "ci0q", "3c", "b2h3i", "5sQ", "xxxi", "3xd",
	" h h\ti ", "?dc", "0s", "s", "lLqQfd?", "2f3d", "c7s0l", "bBhHiIlLqQfd?c",
	"@i 4s 2x q", "@iqd16s?", "?h?i?q?d", "10s3Q", "c5p0i", "3p", "b0hc",
}

// pythonScript reads formats as JSON and prints, for each, calcsize and the
// bytes struct.pack writes when value k is k+1 (integers), k+0.5 (floats),
// True (bools) and byte j of a bytes value k is k+1+j. Formats with "p" are
// only sized: its values carry a length byte.
const pythonScript = `
import json, struct, sys
out = []
for f in json.load(sys.stdin):
    n = struct.calcsize(f)
    if "p" in f:
        out.append({"size": n, "data": ""})
        continue
    vals = []
    for k, z in enumerate(struct.unpack(f, bytes(n))):
        if isinstance(z, bool):
            vals.append(True)
        elif isinstance(z, int):
            vals.append(k + 1)
        elif isinstance(z, float):
            vals.append(k + 0.5)
        else:
            vals.append(bytes((k + 1 + j) % 256 for j in range(len(z))))
    out.append({"size": n, "data": struct.pack(f, *vals).hex()})
json.dump(out, sys.stdout)
`

// TestPythonStruct checks CalcSize against struct.calcsize and ParseFormat's
// offsets against where struct.pack puts each value.
func TestPythonStruct(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: ", err)
	}
	in, err := json.Marshal(pythonFormats)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", pythonScript)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var results []struct {
		Size int
		Data string
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(pythonFormats) {
		t.Fatalf("python3 printed %q: %v", out, err)
	}
	for i, format := range pythonFormats {
		res := results[i]
		if got, err := ctypes.CalcSize(format); err != nil || got != res.Size {
			t.Errorf("CalcSize(%q) = %d, %v; struct.calcsize says %d", format, got, err, res.Size)
		}
		l, err := ctypes.ParseFormat(format)
		if err != nil {
			t.Errorf("ParseFormat(%q): %v", format, err)
			continue
		}
		if l.Size < res.Size || l.Size-res.Size >= l.Align {
			t.Errorf("ParseFormat(%q).Size = %d, calcsize %d, align %d", format, l.Size, res.Size, l.Align)
		}
		if strings.Contains(format, "p") {
			continue
		}
		data, _ := hex.DecodeString(res.Data)
		checkPacked(t, format, l, data)
	}
}

// checkPacked checks that every element of every field of l holds the value
// pythonScript packed for it in data.
func checkPacked(t *testing.T, format string, l ctypes.Layout, data []byte) {
	t.Helper()
	for _, f := range l.Fields {
		k, err := strconv.Atoi(f.Name[1:])
		if err != nil {
			t.Fatalf("%q: field name %q", format, f.Name)
		}
		for j := range max(f.Len, 1) {
			off := f.Offset + j*f.Type.Size
			if off+f.Type.Size > len(data) {
				t.Errorf("%q: field %s[%d] at %d beyond the %d packed bytes", format, f.Name, j, off, len(data))
				continue
			}
			got := readScalar(f.Type, data[off:])
			want := float64(k + j + 1)
			switch f.Type.Code {
			case "f", "d":
				want -= 0.5
			case "?":
				want = 1
			case "c":
				want = float64((k + j + 1) % 256)
			}
			if got != want {
				t.Errorf("%q: field %s[%d] at offset %d reads %v, Python packed %v", format, f.Name, j, off, got, want)
			}
		}
	}
}

// readScalar reads a value of type ty from b in native byte order.
func readScalar(ty ctypes.Type, b []byte) float64 {
	ne := binary.NativeEndian
	switch ty.Code {
	case "c", "B", "?":
		return float64(b[0])
	case "b":
		return float64(int8(b[0]))
	case "h":
		return float64(int16(ne.Uint16(b)))
	case "H":
		return float64(ne.Uint16(b))
	case "i":
		return float64(int32(ne.Uint32(b)))
	case "I":
		return float64(ne.Uint32(b))
	case "l", "q":
		return float64(int64(ne.Uint64(b)))
	case "L", "Q":
		return float64(ne.Uint64(b))
	case "f":
		return float64(math.Float32frombits(ne.Uint32(b)))
	case "d":
		return math.Float64frombits(ne.Uint64(b))
	}
	panic("readScalar: code " + ty.Code)
}

// TestPythonRejects checks that formats ParseFormat calls malformed are
// malformed to Python too (not the ones rejected only as unsupported).
func TestPythonRejects(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: ", err)
	}
	formats := []string{"3", "z", "3 i", "i@", "ii%", "2 "}
	for _, format := range formats {
		if err := parseErr(format); !errors.Is(err, ctypes.ErrFormat) {
			t.Errorf("ParseFormat(%q): %v", format, err)
		}
	}
	in, err := json.Marshal(formats)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", `
import json, struct, sys
def rejects(f):
    try:
        struct.calcsize(f)
    except struct.error:
        return True
    return False
json.dump([rejects(f) for f in json.load(sys.stdin)], sys.stdout)
`)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var rejected []bool
	if err := json.Unmarshal(out, &rejected); err != nil || len(rejected) != len(formats) {
		t.Fatalf("python3 printed %q: %v", out, err)
	}
	for i, format := range formats {
		if !rejected[i] {
			t.Errorf("python3 accepts %q", format)
		}
	}
}
