// Package testutil holds the fixtures that the tests of several modules
// share: Hub Chantier's route vocabulary, a settable clock, a next handler
// that records what reached it. It is imported by _test.go files only.
package testutil

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hubchantier/hubgate/modules/hub"
)

// RepoRoot is the repository's root directory, found from this file's
// location so that tests of any package can read configs/.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// HubRoutes is Hub Chantier's route vocabulary, configs/hub-routes.json,
// the one the default Caddyfile loads, provisioned.
func HubRoutes(t testing.TB) *hub.Routes {
	t.Helper()
	rt, err := hub.LoadRoutes(filepath.Join(RepoRoot(), "configs", "hub-routes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Provision(); err != nil {
		t.Fatal(err)
	}
	return rt
}
