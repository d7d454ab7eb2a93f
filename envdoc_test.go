package hubgate

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestEnvReference keeps docs/configuration.md true: every HUB_* variable
// the shipped Caddyfile or the non-test Go code reads has a row, and every
// row names a variable something reads.
func TestEnvReference(t *testing.T) {
	name := regexp.MustCompile(`HUB_[A-Z0-9_]*[A-Z0-9]`)
	used := map[string]bool{}
	add := func(b []byte) {
		for _, v := range name.FindAllString(string(b), -1) {
			if !strings.HasPrefix(v, "HUB_TEST_") && v != "HUB_BIN_DIR" {
				used[v] = true
			}
		}
	}
	caddyfile, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	add(caddyfile)
	for _, root := range []string{"cmd", "upstream", "modules", "internal"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") ||
				strings.HasPrefix(p, filepath.Join("internal", "testutil")) {
				return err
			}
			b, err := os.ReadFile(p)
			add(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile(filepath.Join("docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(HUB_[A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = true
	}
	var missing, stale []string
	for v := range used {
		if !rows[v] {
			missing = append(missing, v)
		}
	}
	for v := range rows {
		if !used[v] {
			stale = append(stale, v)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("read but not in docs/configuration.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("documented in docs/configuration.md but read nowhere: %v", stale)
	}
}
