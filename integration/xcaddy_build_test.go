package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestXcaddyBuild builds the hubgate modules into a fresh Caddy main module
// outside this repository, as `xcaddy build --with
// github.com/hubchantier/hubgate=<checkout>` does (docs/deployment.md): a
// generated main.go importing caddycmd, the standard modules and
// github.com/hubchantier/hubgate, a go.mod requiring hubgate v0.0.0 with a
// replace to this checkout, then `go build`. The binary must list every
// Caddy module the checkout registers under modules/ (http.handlers.hub_auth
// among them) and adapt the shipped Caddyfile.
//
// The build uses only the module cache and the Go proxy (GOFLAGS=-mod=mod,
// this repository's go.sum copied so that no checksum is looked up again).
// With the build cache warm from `make build` it takes well under a minute;
// a cold one takes minutes, hence the generous timeout.
func TestXcaddyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("xcaddy-style build skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	caddyVersion := requiredVersion(t, gomod, "github.com/caddyserver/caddy/v2")
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}

	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What xcaddy generates (its main.go template), with our module added.
	write("main.go", `package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/hubchantier/hubgate"
)

func main() {
	caddycmd.Main()
}
`)
	write("go.mod", fmt.Sprintf(`module caddy

go %s

require (
	github.com/caddyserver/caddy/v2 %s
	github.com/hubchantier/hubgate v0.0.0
)

replace github.com/hubchantier/hubgate => %s
`, goLine[1], caddyVersion, root))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// CGO_ENABLED is left as is: the same setting as `make build` reuses its
	// build cache (a different one recompiles everything).
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	bin := filepath.Join(dir, "caddy")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	build.Dir, build.Env = dir, env
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the fresh Caddy main module: %v\n%s", err, out)
	}
	t.Logf("fresh Caddy main module built in %s", time.Since(start).Round(time.Second))

	list := exec.CommandContext(ctx, bin, "list-modules")
	list.Dir = dir
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		listed[strings.TrimSpace(l)] = true
	}
	want := moduleIDs(t, filepath.Join(root, "modules"))
	if !slices.Contains(want, "http.handlers.hub_auth") {
		t.Fatalf("scan of modules/ found no http.handlers.hub_auth (found %v): the scan is broken", want)
	}
	for _, id := range want {
		if !listed[id] {
			t.Errorf("module %s missing from the fresh build's list-modules", id)
		}
	}
	if !listed["http.handlers.reverse_proxy"] {
		t.Errorf("standard module http.handlers.reverse_proxy missing: the standard modules were not linked")
	}

	// The shipped Caddyfile adapts with the fresh binary (it uses the
	// hub_* directives, hub_reverse_proxy included). adapt loads nothing.
	adapt := exec.CommandContext(ctx, bin, "adapt", "--config", filepath.Join(root, "Caddyfile"), "--adapter", "caddyfile")
	adapt.Dir = root
	if out, err := adapt.CombinedOutput(); err != nil {
		t.Errorf("caddy adapt of the shipped Caddyfile with the fresh build: %v\n%s", err, out)
	} else if !strings.Contains(string(out), `"hub_auth"`) {
		t.Errorf("adapted Caddyfile has no hub_auth handler:\n%.2000s", out)
	}
}

// requiredVersion returns the version go.mod requires for path.
func requiredVersion(t *testing.T, gomod []byte, path string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(path) + `\s+(v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatalf("go.mod does not require %s", path)
	}
	return string(m[1])
}

// moduleIDs scans the non-test Go files under dir for caddy.ModuleInfo
// literals and returns their IDs, sorted.
func moduleIDs(t *testing.T, dir string) []string {
	t.Helper()
	re := regexp.MustCompile(`caddy\.ModuleInfo\{\s*ID:\s*"([^"]+)"`)
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
