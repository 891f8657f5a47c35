package baseline

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	r := Parse([]byte("case=x ns_per_op=12.5 n=3\nother=abc rate=1e6\n"))
	if r["ns_per_op"] != 12.5 || r["n"] != 3 || r["rate"] != 1e6 || len(r) != 3 {
		t.Fatalf("%v", r)
	}
}

func TestC(t *testing.T) {
	r, err := C(`#include <stdio.h>
int main(int argc, char **argv) { printf("answer=%d argc=%d\n", 42, argc); return 0; }`, "a", "b")
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r["answer"] != 42 || r["argc"] != 3 {
		t.Fatalf("%v", r)
	}
}

func TestPython(t *testing.T) {
	r, err := Python("import sys; print('n=%d' % len(sys.argv))", "x")
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r["n"] != 2 {
		t.Fatalf("%v", r)
	}
}
