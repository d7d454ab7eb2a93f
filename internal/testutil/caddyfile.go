package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// AdaptDefaultCaddyfile adapts the repository's Caddyfile to JSON (with
// the environment of the test). The caller's imports register the
// directives it uses (the hubgate modules, Caddy's standard ones).
func AdaptDefaultCaddyfile(t testing.TB) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(RepoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt(body, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
