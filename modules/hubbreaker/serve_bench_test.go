package hubbreaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// BenchmarkServeHTTP: hub_breaker_error, which runs in handle_errors only
// (never on a request that succeeded): a 503 from the proxy answered as a
// problem with Retry-After, the breaker closed.
func BenchmarkServeHTTP(b *testing.B) {
	h := &ErrorHandler{Breaker: "bench-none", RetryAfter: caddy.Duration(10 * time.Second)}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	})
	proxyErr := caddyhttp.Error(http.StatusServiceUnavailable, errors.New("no upstreams available"))
	testutil.BenchServe(b, h, func(w http.ResponseWriter) *http.Request {
		r := testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1")
		return r.WithContext(context.WithValue(r.Context(), caddyhttp.ErrorCtxKey, proxyErr))
	}, next, func(w *httptest.ResponseRecorder) error {
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "10" {
			return fmt.Errorf("status %d, headers %v", w.Code, w.Header())
		}
		return nil
	})
}
