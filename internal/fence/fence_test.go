// Package fence checks repository-wide code rules that no single package's
// tests see.
package fence

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUnsafeFenced: only files named *_unsafe.go (or *_unsafe_test.go)
// import "unsafe" (DESIGN.md principle 6, STYLE.md habit 1).
func TestUnsafeFenced(t *testing.T) {
	root := "../.."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != ".." && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			base := filepath.Base(path)
			if p == "unsafe" && !strings.HasSuffix(base, "_unsafe.go") && !strings.HasSuffix(base, "_unsafe_test.go") {
				t.Errorf("%s imports unsafe; unsafe code belongs in *_unsafe.go files", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: wrong root?", checked)
	}
}
