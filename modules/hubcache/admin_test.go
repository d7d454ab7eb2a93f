package hubcache

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/internal/testutil"
)

var keyRE = regexp.MustCompile(`key="([0-9a-f]{64})"`)

// TestPurge purges by key, tag, path prefix and principal through the
// admin handler and checks exactly what became a miss.
func TestPurge(t *testing.T) {
	type get struct {
		path    string
		subject string
	}
	gets := []get{
		{"/api/v1/chantiers/1", "1"},
		{"/api/v1/chantiers?page=1", "1"},
		{"/api/v1/chantiers/1", "2"},
		{"/api/v1/pointages", "2"},
		{"/api/v1/stats", "1"},
	}
	tests := []struct {
		name   string
		body   func(keys []string) string
		purged []bool
	}{
		{"key", func(k []string) string { return `{"key":"` + k[2] + `"}` }, []bool{false, false, true, false, false}},
		{"key upper case", func(k []string) string { return `{"key":"` + strings.ToUpper(k[0]) + `"}` }, []bool{true, false, false, false, false}},
		{"tag", func([]string) string { return `{"tag":"pointages"}` }, []bool{false, false, false, true, false}},
		{"path prefix", func([]string) string { return `{"path_prefix":"/api/v1/chantiers/"}` }, []bool{true, true, true, false, false}},
		{"path prefix item", func([]string) string { return `{"path_prefix":"/api/v1/chantiers/1"}` }, []bool{true, false, true, false, false}},
		{"principal", func([]string) string { return `{"principal":"2"}` }, []bool{false, false, true, true, false}},
	}
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := newTestHandler(t, mk(t), testutil.NewClock(t0), nil)
					up := newUpstream(`{}`)
					tagged := newUpstream(`{}`)
					tagged.header.Set("Cache-Tag", "pointages")
					keys := make([]string, len(gets))
					for i, g := range gets {
						u := up
						if strings.Contains(g.path, "pointages") {
							u = tagged
						}
						w := call(t, h, u, "GET", g.path, ident(g.subject, "k"+g.subject, "read"))
						m := keyRE.FindStringSubmatch(cacheStatus(w))
						if m == nil {
							t.Fatalf("no key in %q", cacheStatus(w))
						}
						keys[i] = m[1]
					}
					w := purge(tt.body(keys))
					if w.Code != 200 {
						t.Fatalf("purge: %d %s", w.Code, w.Body)
					}
					for i, g := range gets {
						w := call(t, h, up, "GET", g.path, ident(g.subject, "k"+g.subject, "read"))
						if miss := strings.HasPrefix(cacheStatus(w), "hubgate; fwd=miss"); miss != tt.purged[i] {
							t.Errorf("%s as %s: %q, want purged=%v", g.path, g.subject, cacheStatus(w), tt.purged[i])
						}
					}
				})
			}
		})
	}
}

func purge(body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/hub/cache/purge", strings.NewReader(body))
	if err := handlePurge(w, r); err != nil {
		w.Code = 500
	}
	return w
}

// TestPurgeRejects: every bad purge is a problem+json 400 (405 for GET).
func TestPurgeRejects(t *testing.T) {
	_ = newTestHandler(t, storesMemory(t), testutil.NewClock(t0), nil)
	tests := []struct {
		name, method, body string
		status             int
	}{
		{"GET", "GET", "", http.StatusMethodNotAllowed},
		{"not JSON", "POST", "purge", http.StatusBadRequest},
		{"empty", "POST", `{}`, http.StatusBadRequest},
		{"two members", "POST", `{"tag":"a","principal":"b"}`, http.StatusBadRequest},
		{"unknown member", "POST", `{"user":"a"}`, http.StatusBadRequest},
		{"short key", "POST", `{"key":"abc"}`, http.StatusBadRequest},
		{"relative prefix", "POST", `{"path_prefix":"api"}`, http.StatusBadRequest},
		{"root prefix", "POST", `{"path_prefix":"/"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, "/hub/cache/purge", strings.NewReader(tt.body))
			if err := handlePurge(w, r); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.status || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") ||
				!strings.Contains(w.Body.String(), "urn:hubchantier:problem:") {
				t.Fatalf("%d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
		})
	}
}
