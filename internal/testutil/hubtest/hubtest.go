// Package hubtest holds the test fixtures that need the hub app's types:
// Hub Chantier's route vocabulary. It is imported by _test.go files only
// (not by modules/hub's own tests, which it imports).
package hubtest

import (
	"testing"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// HubRoutes is Hub Chantier's route vocabulary, configs/hub-routes.json,
// the one the default Caddyfile loads, provisioned.
func HubRoutes(t testing.TB) *hub.Routes {
	t.Helper()
	rt, err := hub.LoadRoutes(testutil.HubRoutesFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Provision(); err != nil {
		t.Fatal(err)
	}
	return rt
}
