package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProblemMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.PathValue("id"))) })
	h := problemMux(mux)
	cases := []struct {
		method, path string
		status       int
		problem      bool
		allow        string
	}{
		{"GET", "/things/1", 200, false, ""},
		{"GET", "/nothing", 404, true, ""},
		{"DELETE", "/things/1", 405, true, "GET, HEAD"},
		{"GET", "/things//1", 0, false, ""}, // a redirect to the clean path, whatever its 3xx
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if c.status == 0 && (w.Code < 300 || w.Code > 399) {
			t.Errorf("%s %s: status %d, want a redirect", c.method, c.path, w.Code)
		}
		if c.status != 0 && w.Code != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, w.Code, c.status)
		}
		if c.status == 200 && w.Body.String() != "1" {
			t.Errorf("%s %s: path value %q, want 1", c.method, c.path, w.Body.String())
		}
		isProblem := strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json")
		if isProblem != c.problem {
			t.Errorf("%s %s: problem+json %v, want %v (%q)", c.method, c.path, isProblem, c.problem, w.Body.String())
		}
		if got := w.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}
