package hubgate

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryModuleIsImported fails when a package under modules/ is missing
// from imports.go, so `xcaddy build --with github.com/hubchantier/hubgate`
// always brings the whole suite.
func TestEveryModuleIsImported(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "imports.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imported[p] = true
	}
	found := 0
	err = filepath.WalkDir("modules", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
				found++
				pkg := "github.com/hubchantier/hubgate/" + filepath.ToSlash(path)
				if !imported[pkg] {
					t.Errorf("imports.go does not import %s", pkg)
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 2 {
		t.Fatalf("found only %d module packages under modules/", found)
	}
}
