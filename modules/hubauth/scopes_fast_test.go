package hubauth

import (
	"net/http/httptest"
	"testing"
)

// TestScopesGrantedMatchesRequired: the allocation-free check decides as
// grantsAny over the built list (requiredScopes) for every combination.
func TestScopesGrantedMatchesRequired(t *testing.T) {
	h := newTestHandler(t, nil)
	h.Rules = nil
	paths := []string{"/api/v1/chantiers", "/api/v1/chantiers/1", "/api/v1/admin/users", "/api/v1/a:b/1", "/api/v1/", "/other", "/api/v2/chantiers"}
	methods := []string{"GET", "HEAD", "OPTIONS", "POST", "DELETE"}
	haves := [][]string{nil, {"read"}, {"write"}, {"admin"}, {"chantiers:read"}, {"chantiers:write"}, {"chantiers:*"},
		{"a:*"}, {"a:b:read"}, {"a:b:*"}, {"chantiers"}, {"*"}, {":*"}, {"chantier:*"}, {"chantiers:readx"}, {"x", "chantiers:*"}}
	for _, p := range paths {
		for _, m := range methods {
			r := httptest.NewRequest(m, p, nil)
			for _, have := range haves {
				need := h.requiredScopes(nil, r)
				want := len(need) == 0 || grantsAny(have, need)
				if got := h.scopesGranted(nil, r, have); got != want {
					t.Errorf("%s %s with %v: granted %v, want %v (need %v)", m, p, have, got, want, need)
				}
			}
		}
	}
}

func FuzzScopesGrantedMatchesRequired(f *testing.F) {
	f.Add("GET", "/api/v1/chantiers/1", "chantiers:*")
	f.Add("POST", "/api/v1/a:b/c", "a:*")
	f.Fuzz(func(t *testing.T, method, path, scope string) {
		h := &Handler{ResourcePrefixes: DefaultResourcePrefixes}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.URL.Path = method, path
		need := h.requiredScopes(nil, r)
		want := len(need) == 0 || grantsAny([]string{scope}, need)
		if got := h.scopesGranted(nil, r, []string{scope}); got != want {
			t.Fatalf("%s %s with %q: granted %v, want %v (need %v)", method, path, scope, got, want, need)
		}
	})
}
