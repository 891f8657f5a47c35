package rawarray_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestUnsafeIsFenced enforces that only files named *_unsafe.go (and
// *_unsafe_test.go) import unsafe.
func TestUnsafeIsFenced(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "unsafe" && !strings.HasSuffix(name, "_unsafe.go") && !strings.HasSuffix(name, "_unsafe_test.go") {
				t.Errorf("%s imports unsafe; unsafe code belongs in *_unsafe.go files", name)
			}
		}
	}
}
