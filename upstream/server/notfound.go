package server

import (
	"net/http"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// problemMux answers what the ServeMux itself refuses — no route (404), a
// route without this method (405, with its Allow header) — as problem+json
// instead of net/http's text/plain, so every rejection has one format.
func problemMux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			// Through the mux again: only its ServeHTTP sets r.PathValue.
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer (404, 405 or a redirect to the clean path):
		// learn its status and headers without letting its body out.
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			httpx.Problem(w, r, problem.New(http.StatusNotFound, "not-found", "Not Found", "no such endpoint"))
		case http.StatusMethodNotAllowed:
			if allow := rec.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			httpx.Problem(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed",
				r.Method+" is not allowed here; see the Allow header"))
		default:
			// Redirects (to a cleaned path) go out as the mux wrote them.
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
		}
	})
}

// headerRecorder keeps the status and headers a handler writes and drops
// its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }

func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *headerRecorder) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(p), nil
}
