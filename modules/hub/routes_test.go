package hub

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// hubRoutes is Hub Chantier's vocabulary, the one the default Caddyfile
// loads.
func hubRoutes(t testing.TB) *Routes {
	t.Helper()
	rt, err := LoadRoutes(testutil.HubRoutesFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Provision(); err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestRouteTemplate(t *testing.T) {
	checkTemplates(t, hubRoutes(t), map[string]string{
		"/api/v1/chantiers":                      "/api/v1/chantiers",
		"/api/v1/chantiers/42":                   "/api/v1/chantiers/{id}",
		"/api/v2/chantiers/42":                   "/api/v2/chantiers/{id}",
		"/api/v1/admin/api-keys/abcdefghijkl":    "/api/v1/admin/api-keys/{id}",
		"/api/auth/api-keys/3t5w5c5shga7/rotate": "/api/auth/api-keys/{id}/rotate",
		"/api/auth/login":                        "/api/auth/login",
		"/api/v1/nope/1":                         "/api/v1/other",
		"/api/v1":                                "/api/v1",
		"/api/zz/x":                              "/api/other",
		"/healthz":                               "/healthz",
		"/wp-admin.php":                          "other",
		"/api/v1/chantiers/1/2/3/4/5/6":          "/api/v1/chantiers/{id}/{id}/{id}/…",
	})
}

// checkTemplates fails for each path whose template under rt is not want.
func checkTemplates(t *testing.T, rt *Routes, want map[string]string) {
	t.Helper()
	for in, w := range want {
		if got := rt.Template(in); got != w {
			t.Errorf("Template(%q) = %q, want %q", in, got, w)
		}
	}
}

// TestRouteTemplateBounded: 1,000 distinct ids give one template.
func TestRouteTemplateBounded(t *testing.T) {
	rt := hubRoutes(t)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		seen[rt.Template(fmt.Sprintf("/api/v1/chantiers/%d", i))] = true
		seen[rt.Template(fmt.Sprintf("/api/auth/api-keys/k%dabc/rotate", i))] = true
	}
	if len(seen) != 2 {
		t.Fatalf("templates: %v", seen)
	}
}

func TestRouteOfMemoizesPerPath(t *testing.T) {
	rt := hubRoutes(t)
	r := httptest.NewRequest("GET", "/api/v1/chantiers/42", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	if got := rt.Of(r); got != "/api/v1/chantiers/{id}" {
		t.Fatalf("Of = %q", got)
	}
	if s := stateOf(r, false); s == nil || s.routeTmpl != "/api/v1/chantiers/{id}" || s.routePath != "/api/v1/chantiers/42" {
		t.Fatalf("not memoized: %#v", s)
	}
	// A rewritten path (v2 → v1 inside the chain) is computed afresh.
	r.URL.Path = "/api/v2/chantiers"
	if got := rt.Of(r); got != "/api/v2/chantiers" {
		t.Fatalf("after rewrite Of = %q", got)
	}
	// Outside Caddy (no vars) it still answers.
	if got := rt.Of(httptest.NewRequest("GET", "/healthz", nil)); got != "/healthz" {
		t.Fatalf("without vars Of = %q", got)
	}
}

func TestRouteResource(t *testing.T) {
	rt := hubRoutes(t)
	for path, want := range map[string]string{
		"/api/v1/chantiers":                "chantiers collection",
		"/api/v1/chantiers/":               "chantiers collection",
		"/api/v1/chantiers/7":              "chantiers item",
		"/api/v1/chantiers/7/affectations": "affectations collection",
		"/api/v1/stats":                    "stats collection",
		"/api/v1/admin/api-keys":           "api-keys collection",
		"/api/v1/admin/api-keys/abc":       "api-keys item",
		"/api/auth/api-keys":               "api-keys collection",
		"/api/auth/api-keys/abc/rotate":    "rotate collection",
		"/api/v1/nope":                     "unknown",
		"/api/v1/nope/3":                   "unknown",
		"/api/v1/admin":                    "unknown",
		"/api/v1/admin/nope":               "unknown",
		"/api/v1/chantiers/7/nope":         "unknown",
		"/api/v1/api-keys":                 "unknown", // a word, not a resource
		"/api/zz/chantiers":                "unknown",
		"/api/v1":                          "unknown",
		"/healthz":                         "unknown",
		"/apix/v1/chantiers":               "unknown",
	} {
		entity, coll, _, known := rt.Resource(path)
		got := "unknown"
		if known {
			got = entity + map[bool]string{true: " collection", false: " item"}[coll]
		}
		if got != want {
			t.Errorf("Resource(%q) = %s, want %s", path, got, want)
		}
	}
}
