package ctypes_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
)

// gccStructs are laid out by StructLayout and by gcc, and must agree. They
// mix every scalar, arrays, nested structs (anonymous, so each definition
// can appear inline more than once) and trailing padding.
func gccStructs(t *testing.T) []ctypes.Layout {
	f := func(name, code string, n int) ctypes.FieldSpec {
		return ctypes.FieldSpec{Name: name, Code: code, Len: n}
	}
	s := func(name string, l ctypes.Layout, n int) ctypes.FieldSpec {
		return ctypes.FieldSpec{Name: name, Struct: &l, Len: n}
	}
	pair := mustLayout(t, f("x", "h", 0), f("y", "h", 0))
	inner := mustLayout(t, f("w", "d", 0), f("k", "c", 0))
	chars := mustLayout(t, f("a", "c", 3))
	deep := mustLayout(t, f("b", "b", 0), s("p", pair, 0), s("in", inner, 0), f("z", "?", 0))

	named := func(name string, fields ...ctypes.FieldSpec) ctypes.Layout {
		l := mustLayout(t, fields...)
		l.Name = name
		return l
	}
	return []ctypes.Layout{
		named("mix", f("c", "c", 0), f("s", "h", 0), f("i", "i", 0), f("q", "q", 0), f("d", "d", 0), f("b", "?", 0)),
		named("arrays", f("name", "c", 16), f("id", "i", 0), f("scores", "d", 3), f("flags", "B", 5)),
		named("nested", s("pos", pair, 0), f("tag", "c", 0), s("inner", inner, 2), f("tail", "i", 0)),
		named("codes", f("a", "?", 0), f("b", "d", 0), f("c", "c", 0), f("d", "H", 0), f("e", "l", 0),
			f("f", "b", 0), f("g", "Q", 0), f("h", "f", 0), f("i", "h", 0), f("j", "I", 0),
			f("k", "L", 0), f("l", "B", 0), f("m", "q", 0), f("n", "i", 0)),
		named("trailing", f("q", "q", 0), f("c", "c", 0)),
		named("floaty", f("f", "f", 0), f("c", "c", 3)),
		named("chars", s("three", chars, 0), f("i", "i", 0), s("more", chars, 2)),
		named("deep", f("c", "c", 0), s("d", deep, 0), f("u", "H", 0), s("ds", deep, 3), f("end", "c", 0)),
		named("bools", f("a", "?", 7), f("s", "h", 0)),
	}
}

// TestGCCLayouts compiles a C program declaring gccStructs (as Layout.String
// prints them) and the scalar types, runs it, and compares the offsets,
// sizes and alignments gcc reports with this package's.
func TestGCCLayouts(t *testing.T) {
	t.Parallel()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: ", err)
	}
	structs := gccStructs(t)

	var src, body, want strings.Builder
	src.WriteString("#include <stddef.h>\n#include <stdio.h>\n\n")
	for i, ty := range ctypes.Types() {
		// The offset of x after a char is the type's alignment as a member.
		fmt.Fprintf(&src, "struct type%d { char pad; %s x; };\n", i, ty.CName)
		fmt.Fprintf(&body, "\tprintf(\"type %s %%zu %%zu\\n\", sizeof(%s), offsetof(struct type%d, x));\n", ty.Code, ty.CName, i)
		fmt.Fprintf(&want, "type %s %d %d\n", ty.Code, ty.Size, ty.Align)
	}
	for _, l := range structs {
		fmt.Fprintf(&src, "\n%s\n", l)
		fmt.Fprintf(&body, "\tprintf(\"struct %s %%zu %%zu\\n\", sizeof(struct %[1]s), _Alignof(struct %[1]s));\n", l.Name)
		fmt.Fprintf(&want, "struct %s %d %d\n", l.Name, l.Size, l.Align)
		for _, p := range fieldPaths(l, "", "") {
			f, ok := l.FieldByName(p.path)
			if !ok {
				t.Fatalf("FieldByName(%q) in %s: not found", p.path, l.Name)
			}
			fmt.Fprintf(&body, "\tprintf(\"field %s.%s %%zu %%zu\\n\", offsetof(struct %[1]s, %[3]s), sizeof(((struct %[1]s *)0)->%[3]s));\n",
				l.Name, p.path, p.designator)
			fmt.Fprintf(&want, "field %s.%s %d %d\n", l.Name, p.path, f.Offset, f.Size)
		}
	}
	fmt.Fprintf(&src, "\nint main(void) {\n%s\treturn 0;\n}\n", body.String())

	dir := t.TempDir()
	cfile, prog := filepath.Join(dir, "layouts.c"), filepath.Join(dir, "layouts")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-std=c11", "-Wall", "-Werror", "-o", prog, cfile).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s\nsource:\n%s", err, out, src.String())
	}
	out, err := exec.Command(prog).Output()
	if err != nil {
		t.Fatalf("running the C program: %v", err)
	}
	got, exp := strings.Split(string(out), "\n"), strings.Split(want.String(), "\n")
	if len(got) != len(exp) {
		t.Fatalf("C printed %d lines, want %d:\n%s", len(got), len(exp), out)
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Errorf("gcc: %q, ctypes: %q", got[i], exp[i])
		}
	}
	if t.Failed() {
		t.Logf("source:\n%s", src.String())
	}
}

// fieldPath names a field for FieldByName (path) and for C's offsetof
// (designator, which indexes the first element of struct arrays).
type fieldPath struct{ path, designator string }

// fieldPaths returns every field of l, nested ones included.
func fieldPaths(l ctypes.Layout, path, designator string) []fieldPath {
	var out []fieldPath
	for _, f := range l.Fields {
		p := fieldPath{path + f.Name, designator + f.Name}
		out = append(out, p)
		if f.Struct != nil {
			d := p.designator
			if f.Len > 0 {
				d += "[0]"
			}
			out = append(out, fieldPaths(*f.Struct, p.path+".", d+".")...)
		}
	}
	return out
}

// Go mirrors of two of gccStructs, checked with CheckLayout, so the whole
// chain C -> Layout -> Go struct is covered.
type (
	mixGo struct {
		C int8
		S int16
		I int32
		Q int64
		D float64
		B bool
	}
	nestedGo struct {
		Pos   struct{ X, Y int16 }
		Tag   byte
		Inner [2]struct {
			W float64
			K byte
		}
		Tail int32
	}
)

func TestGCCStructsMatchGo(t *testing.T) {
	structs := gccStructs(t)
	if err := ctypes.CheckLayout[mixGo](structs[0]); err != nil {
		t.Error(err)
	}
	if err := ctypes.CheckLayout[nestedGo](structs[2]); err != nil {
		t.Error(err)
	}
}
