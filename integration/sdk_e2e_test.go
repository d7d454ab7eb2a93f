package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/sdk/go/hubclient"
)

// The SDKs (docs/sdk.md): sdk/typescript driven by node against a real
// gateway, the committed documents and generated files checked against
// what the gateway serves, and sdk/go/hubclient against a real gateway.

// sdkTS is the TypeScript package's directory.
func sdkTS() string { return filepath.Join(harness.RepoRoot(), "sdk", "typescript") }

// needNode skips without node, npm or the package's node_modules (npm ci
// in sdk/typescript), except on CI (CI=true), where .ci/run installs them
// and their absence is a failure.
func needNode(t *testing.T) {
	t.Helper()
	var missing []string
	for _, b := range []string{"node", "npm"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if _, err := os.Stat(filepath.Join(sdkTS(), "node_modules", ".bin", "openapi-typescript")); err != nil {
		missing = append(missing, "sdk/typescript/node_modules (npm ci)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing on CI: %s; .ci/run runs npm ci in sdk/typescript", strings.Join(missing, ", "))
	}
	t.Skipf("TypeScript SDK test skipped: missing %s (install node and npm, then `cd sdk/typescript && npm ci`)", strings.Join(missing, ", "))
}

// npm runs an npm script in sdk/typescript and returns its stdout.
func npm(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = sdkTS()
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), errors.New(err.Error() + "\nstdout:\n" + out.String() + "\nstderr:\n" + errb.String())
	}
	return out.String(), nil
}

// TestSDKTypeScript compiles the package with tsc (strict) and runs its
// integration script against a real gateway: sign in, create a key, list
// chantiers, create one, PATCH it under If-Match, get a typed 412 and a
// typed validation problem, read it back through v2. The Go side then
// checks the row the script wrote, through the gateway.
func TestSDKTypeScript(t *testing.T) {
	needNode(t)
	s := newStack(t, backends[0])
	s.createUser("sdk@example.com", "conducteur")
	out, err := npm(t, []string{"HUB_GATEWAY_URL=" + s.gw.URL, "HUB_EMAIL=sdk@example.com", "HUB_PASSWORD=correct-horse-battery"},
		"run", "--silent", "integration")
	if err != nil {
		t.Fatalf("npm run integration: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct {
		OK             bool    `json:"ok"`
		CreatedID      float64 `json:"created_id"`
		PatchedVersion float64 `json:"patched_version"`
		StaleType      string  `json:"stale_type"`
		InvalidStatus  int     `json:"invalid_status"`
		InvalidType    string  `json:"invalid_type"`
		V2Name         string  `json:"v2_name"`
		AnonymousType  string  `json:"anonymous_type"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || !sum.OK {
		t.Fatalf("script summary %q: %v", lines[len(lines)-1], err)
	}
	if sum.StaleType != "urn:hubchantier:problem:precondition-failed" || sum.InvalidStatus != 400 ||
		sum.InvalidType != "urn:hubchantier:problem:validation" || !strings.HasPrefix(sum.AnonymousType, "urn:hubchantier:problem:") {
		t.Fatalf("problem types seen by the script: %+v", sum)
	}
	tok := s.login("sdk@example.com", "correct-horse-battery")
	r := s.gwDo("GET", "/api/v1/chantiers/"+strconv.Itoa(int(sum.CreatedID)), nil, bearer(tok)...)
	m := r.json(t)
	if r.status != 200 || m["statut"] != "en_cours" || m["nom"] != sum.V2Name || m["version"] != sum.PatchedVersion {
		t.Fatalf("row written by the script: %d %s (summary %+v)", r.status, r.body, sum)
	}
}

// TestSDKGeneratedUpToDate fails when the committed documents
// (sdk/openapi) differ from what a running gateway serves, or when the
// committed TypeScript types differ from openapi-typescript's output on
// them: run `make sdk` and commit. (The Go types are checked by
// sdk/internal/gengo's tests.)
func TestSDKGeneratedUpToDate(t *testing.T) {
	s := newStack(t, backends[0])
	for _, d := range []struct{ path, file string }{{"/api/openapi.json", "v1.json"}, {"/api/v2/openapi.json", "v2.json"}} {
		r := s.gwDo("GET", d.path, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", d.path, r.status, r.body)
		}
		want, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "sdk", "openapi", d.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := append(bytes.TrimRight(r.body, "\n"), '\n'); !bytes.Equal(got, want) {
			t.Errorf("sdk/openapi/%s differs from GET %s: run `make sdk` and commit", d.file, d.path)
		}
	}
	needNode(t)
	tmp := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		out := filepath.Join(tmp, v+".ts")
		if _, err := npm(t, nil, "exec", "--", "openapi-typescript", "../openapi/"+v+".json", "--default-non-nullable", "false", "-o", out); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(sdkTS(), "src", v+".ts"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("sdk/typescript/src/%s.ts is stale: run `make sdk` and commit", v)
		}
	}
}

// TestSDKGoClient drives sdk/go/hubclient against a real gateway.
func TestSDKGoClient(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("gosdk@example.com", "conducteur")
	_, key := s.createKey(s.login("gosdk@example.com", "correct-horse-battery"), map[string]any{"name": "go-sdk", "scopes": []string{"chantiers:*"}})
	ctx := context.Background()
	c := hubclient.New(s.gw.URL, key)

	page, err := c.Chantiers().List(ctx, url.Values{"limit": {"5"}, "total": {"exact"}})
	if err != nil || page.Pagination.Total == nil {
		t.Fatalf("list: %v %+v", err, page.Pagination)
	}
	budget := 99.5
	created, etag, err := c.Chantiers().Create(ctx, hubclient.ChantierInput{Nom: "Go SDK", Budget: &budget})
	if err != nil || created.ID == 0 || created.Nom != "Go SDK" || created.Statut != "planifie" || etag == "" {
		t.Fatalf("create: %v %+v etag %q", err, created, etag)
	}
	got, etag2, err := c.Chantiers().Get(ctx, created.ID)
	if err != nil || got.Budget == nil || *got.Budget != budget || etag2 == "" {
		t.Fatalf("get: %v %+v etag %q", err, got, etag2)
	}
	patched, _, err := c.Chantiers().Patch(ctx, created.ID, map[string]any{"statut": "en_cours"}, etag2)
	if err != nil || patched.Statut != "en_cours" || patched.Version <= got.Version {
		t.Fatalf("patch under If-Match: %v %+v", err, patched)
	}
	_, _, err = c.Chantiers().Patch(ctx, created.ID, map[string]any{"statut": "termine"}, etag2)
	var he *hubclient.Error
	if !errors.As(err, &he) || he.Status != http.StatusPreconditionFailed || he.Problem.Type != "urn:hubchantier:problem:precondition-failed" {
		t.Fatalf("stale If-Match: %v", err)
	}
	neg := -1.0
	_, _, err = c.Chantiers().Create(ctx, hubclient.ChantierInput{Nom: "bad", Budget: &neg})
	if !errors.As(err, &he) || he.Status != 400 || hubclient.ProblemType(err) != "urn:hubchantier:problem:validation" ||
		len(he.Problem.Errors) == 0 || he.Problem.Errors[0].Field == nil || *he.Problem.Errors[0].Field != "budget" {
		t.Fatalf("validation: %v %+v", err, he)
	}
	two, _, err := c.V2Chantiers().Get(ctx, created.ID)
	if err != nil || two.Name != "Go SDK" || two.Status != "en_cours" {
		t.Fatalf("v2 get: %v %+v", err, two)
	}
	if _, err := hubclient.New(s.gw.URL, "").Chantiers().List(ctx, nil); !errors.As(err, &he) || he.Status != 401 ||
		!strings.HasPrefix(he.Problem.Type, "urn:hubchantier:problem:") {
		t.Fatalf("anonymous: %v", err)
	}
	if err := c.Chantiers().Delete(ctx, created.ID, ""); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := c.Chantiers().Get(ctx, created.ID); !errors.As(err, &he) || he.Status != 404 {
		t.Fatalf("get after delete: %v", err)
	}
}
