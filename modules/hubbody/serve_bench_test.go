package hubbody

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// BenchmarkServeHTTP: hub_request_body's paths — a GET without a body
// (what most requests are) and a small POST body read whole.
func BenchmarkServeHTTP(b *testing.B) {
	h := &Handler{MaxSize: 1 << 20, ReadTimeout: caddy.Duration(10 * time.Second)}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	ok := func(w *httptest.ResponseRecorder) error {
		if w.Code != http.StatusOK {
			return fmt.Errorf("status %d: %s", w.Code, w.Body)
		}
		return nil
	}
	b.Run("GET", func(b *testing.B) {
		testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
			return testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1")
		}, next, ok)
	})
	const body = `{"nom":"Chantier B","adresse":"2 rue du Port","statut":"planifie","date_debut":"2025-03-01"}`
	b.Run("POST", func(b *testing.B) {
		testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
			r := testutil.BenchRequest(w, http.MethodPost, "/api/v1/chantiers", "Content-Type", "application/json")
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			return r
		}, next, ok)
	})
}
