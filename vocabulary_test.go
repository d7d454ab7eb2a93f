package hubgate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/modules/standard" // the Caddyfile's handle, metrics, reverse_proxy…

	"github.com/hubchantier/hubgate/internal/testutil"
)

// hubChantierVocabulary matches Hub Chantier's resources and actions: its
// French resource names anywhere, its compound path segments, and the
// English ones as a path segment or a whole string literal. The product's
// name (productName) is not a resource and is blanked first.
var productName = regexp.MustCompile(`(?i)hub ?chantier`)

var hubChantierVocabulary = regexp.MustCompile(`(?i)` +
	`(^|[^a-z])(chantiers?|pointages?|signalements?|affectations?|planning)([^a-z]|$)` +
	`|api-keys|audit-logs|oauth-clients|sync-logs` +
	`|/(users|stats|documents|me|connectors)\b` +
	`|"(users|stats|documents|me|connectors)"`)

// TestModulesNameNoUpstreamResource fails when a non-test Go file under
// modules/ names a resource of Hub Chantier (in code or in a comment): the
// modules serve any upstream, whose vocabulary is configuration (the hub
// app's routes option, configs/hub-routes.json; the Caddyfile).
func TestModulesNameNoUpstreamResource(t *testing.T) {
	files := 0
	err := filepath.WalkDir("modules", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := hubChantierVocabulary.FindString(productName.ReplaceAllString(line, "")); m != "" {
				t.Errorf("%s:%d names %q, a Hub Chantier resource: move it to configuration\n\t%s", path, i+1, strings.TrimSpace(m), strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("only %d files scanned under modules/", files)
	}
}

// TestVocabularyPatternMatches keeps the pattern above honest: each line
// names a resource the way the modules used to.
func TestVocabularyPatternMatches(t *testing.T) {
	for _, line := range []string{
		`"chantiers": true, "pointages": true,`,
		`// /api/v1/chantiers/42 → /api/v1/chantiers/{id}`,
		`{Path: "/api/v1/planning", TTL: 2}`,
		`"login": true, "api-keys": true, "audit-logs": true,`,
		`{Methods: []string{"POST"}, Path: "/api/v1/users"},`,
		`{Path: "/api/v1/stats", TTL: 1}`,
		`case "me":`,
		`{Path: "/api/v1/admin/connectors/{id}/sync-logs"}`,
		`"connectors": true,`,
	} {
		if !hubChantierVocabulary.MatchString(productName.ReplaceAllString(line, "")) {
			t.Errorf("not caught: %s", line)
		}
	}
	for _, line := range []string{
		`"github.com/hubchantier/hubgate/modules/hub"`,
		`DefaultIssuer = "hubchantier"`,
		`// all users of an OAuth2 client; the user's keys`,
		`Name: "active_api_keys",`,
		`mux.Handle("/metrics", h)`,
		`base + "/internal/anomalies"`,
		`// Upstream is the base URL of the Hub Chantier service`,
	} {
		if hubChantierVocabulary.MatchString(productName.ReplaceAllString(line, "")) {
			t.Errorf("caught, but names no resource: %s", line)
		}
	}
}

// TestDefaultCaddyfileCarriesHubChantierVocabulary: what the modules no
// longer hard-code, the default Caddyfile configures, so the shipped
// gateway behaves as before (route vocabulary, password bodies kept out
// of the audit's body hashes, the cached aggregates and what invalidates
// them).
func TestDefaultCaddyfileCarriesHubChantierVocabulary(t *testing.T) {
	out := testutil.AdaptDefaultCaddyfile(t)
	var cfg struct {
		Apps struct {
			Hub struct {
				RoutesFile string `json:"routes_file"`
			} `json:"hub"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Apps.Hub.RoutesFile != "configs/hub-routes.json" {
		t.Fatalf("hub routes_file = %q", cfg.Apps.Hub.RoutesFile)
	}
	js := string(out)
	for _, want := range []string{
		`"no_body_hash":[{"path":"/api/auth/login"},{"path":"/oauth/*"},{"path":"/internal/*"},` +
			`{"methods":["POST"],"path":"/api/v1/users"},{"methods":["PUT","PATCH"],"path":"/api/v1/users/{id}"},` +
			`{"methods":["POST"],"path":"/api/v2/users"},{"methods":["PUT","PATCH"],"path":"/api/v2/users/{id}"},` +
			`{"methods":["POST"],"path":"/console/login"},` +
			`{"methods":["POST"],"path":"/api/v1/admin/connectors"},{"methods":["PATCH"],"path":"/api/v1/admin/connectors/{id}"},` +
			`{"methods":["POST"],"path":"/api/v1/connectors/{id}/inbound"}]`,
		`{"path":"/api/v1/stats","ttl":60000000000}`,
		`{"path":"/api/v1/planning","ttl":120000000000}`,
		`"related":[{"invalidate":["/api/v1/stats","/api/v1/planning"],"path":"/api/v1/*"}]`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("adapted Caddyfile lacks %s", want)
		}
	}
}

// TestTestutilOnlyInTests: the shared test fixtures never reach a binary.
func TestTestutilOnlyInTests(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || path == filepath.Join("internal", "testutil")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), `"github.com/hubchantier/hubgate/internal/testutil`) {
			t.Errorf("%s imports internal/testutil outside a test", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
