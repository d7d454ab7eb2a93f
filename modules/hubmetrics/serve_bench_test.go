package hubmetrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/internal/testutil/hubtest"
	"github.com/hubchantier/hubgate/modules/hub"
)

// BenchmarkServeHTTP: hub_metrics' warm path, a GET counted and timed.
func BenchmarkServeHTTP(b *testing.B) {
	m := hub.GetMetrics()
	h := &Handler{routes: hubtest.HubRoutes(b), now: time.Now, requests: m.RequestsTotal, duration: m.RequestDuration}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write([]byte(`{"id":1}`))
		return err
	})
	testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
		return testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1")
	}, next, func(w *httptest.ResponseRecorder) error {
		if w.Code != http.StatusOK {
			return fmt.Errorf("status %d", w.Code)
		}
		return nil
	})
}
