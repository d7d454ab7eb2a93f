package hubcors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPreflight: whatever a client sends as Origin, requested method and
// headers, the handler never panics, never allows an origin it does not
// list, and allows only the configured methods and headers.
func FuzzPreflight(f *testing.F) {
	f.Add("https://app.example", "GET", "Authorization, Content-Type")
	f.Add("https://APP.example", "post", ",,,")
	f.Add("https://evil.example", "PATCH", "X-Hub-Identity")
	f.Add("null", "DELETE", "idempotency-key , if-match")
	h := &Handler{Origins: []string{"https://app.example"}, Credentials: true}
	if err := h.compile(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin, method, headers string) {
		r := httptest.NewRequest(http.MethodOptions, "/x", nil)
		r.Header["Origin"] = []string{origin}
		r.Header["Access-Control-Request-Method"] = []string{method}
		r.Header["Access-Control-Request-Headers"] = []string{headers}
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, &next{}); err != nil {
			t.Fatal(err)
		}
		acao := w.Header().Get("Access-Control-Allow-Origin")
		switch {
		case w.Code == http.StatusNoContent:
			if acao != origin || !h.origins[strings.ToLower(origin)] || !h.methods[method] {
				t.Fatalf("allowed %q %q %q", origin, method, headers)
			}
			for _, name := range requestedHeaders(r) {
				if !h.headers[name] {
					t.Fatalf("allowed header %q", name)
				}
			}
		case w.Code == http.StatusForbidden:
			if acao != "" || w.Header().Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("refusal with CORS headers: %v", w.Header())
			}
		default: // not a preflight (no Origin or no method): served by next
			if origin != "" && method != "" || w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
		}
	})
}
