package hubgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// modulePath is this repository's Go module path.
const modulePath = "github.com/hubchantier/hubgate"

// TestGatewayAndUpstreamDoNotImportEachOther fails when a package under
// modules/ (the gateway) depends, directly or not, on a package under
// upstream/ (Hub Chantier), or the reverse. What both sides share — the
// wire contract — lives in internal/ (internal/contract and friends).
func TestGatewayAndUpstreamDoNotImportEachOther(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", "./modules/...", "./upstream/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs, err := decodePackages(out)
	if err != nil {
		t.Fatal(err)
	}
	if v := boundaryViolations(pkgs); len(v) > 0 {
		t.Fatalf("the gateway and the upstream must share only internal/ packages:\n%s", strings.Join(v, "\n"))
	}
	var modules, upstream int
	for _, p := range pkgs {
		switch sideOf(p.ImportPath) {
		case "modules":
			modules++
		case "upstream":
			upstream++
		}
	}
	if modules < 2 || upstream < 2 {
		t.Fatalf("go list saw %d modules/ and %d upstream/ packages: the check would prove nothing", modules, upstream)
	}
}

// TestBoundaryViolationsSeesBothDirections checks the checker itself on a
// made-up package list.
func TestBoundaryViolationsSeesBothDirections(t *testing.T) {
	pkgs := []listedPackage{
		{ImportPath: modulePath + "/modules/hub", Deps: []string{modulePath + "/internal/contract", "net/http"}},
		{ImportPath: modulePath + "/modules/hubaudit", Deps: []string{modulePath + "/upstream/audit/chain"}},
		{ImportPath: modulePath + "/upstream/auth", Deps: []string{modulePath + "/modules/hub"}},
		{ImportPath: modulePath + "/upstream/db", Deps: []string{modulePath + "/internal/problem"}},
	}
	v := boundaryViolations(pkgs)
	if len(v) != 2 || !strings.Contains(v[0], "modules/hubaudit") || !strings.Contains(v[1], "upstream/auth") {
		t.Fatalf("violations %q, want modules/hubaudit and upstream/auth", v)
	}
}

// listedPackage is the part of `go list -json` the boundary check reads.
type listedPackage struct {
	ImportPath string
	Deps       []string
}

// decodePackages reads the stream of JSON objects `go list -json` prints.
func decodePackages(b []byte) ([]listedPackage, error) {
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

// sideOf returns "modules" or "upstream" for a package of this repository
// under those folders, "" otherwise.
func sideOf(importPath string) string {
	rest, ok := strings.CutPrefix(importPath, modulePath+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	if top == "modules" || top == "upstream" {
		return top
	}
	return ""
}

// boundaryViolations lists each package of one side depending on the other.
func boundaryViolations(pkgs []listedPackage) []string {
	var out []string
	for _, p := range pkgs {
		side := sideOf(p.ImportPath)
		if side == "" {
			continue
		}
		for _, d := range p.Deps {
			if other := sideOf(d); other != "" && other != side {
				out = append(out, p.ImportPath+" depends on "+d)
			}
		}
	}
	return out
}
