package hubratelimit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// BenchmarkServeHTTP: hub_rate_limit's warm path on the memory limiter, a
// key well under its per-key and per-user limits (the RateLimit headers
// written, next called).
func BenchmarkServeHTTP(b *testing.B) {
	h := &Handler{Default: []string{"1000000000/hour"}, PerUser: []string{"1000000000/hour"}, now: time.Now, log: zap.NewNop()}
	if err := h.compile(); err != nil {
		b.Fatal(err)
	}
	h.metrics = hub.GetMetrics()
	h.setLimiter(hub.NewLocalLimiter(time.Now))
	alice := &hub.Identity{Subject: "7", Method: "api_key", KeyID: "key1"}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
		r := testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1")
		hub.SetIdentity(r, alice)
		return r
	}, next, func(w *httptest.ResponseRecorder) error {
		if w.Code != http.StatusOK || w.Header().Get("RateLimit") == "" {
			return fmt.Errorf("status %d, headers %v", w.Code, w.Header())
		}
		return nil
	})
}
