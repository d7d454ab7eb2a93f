package hubcache

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// TestStale serves an expired entry when the upstream fails (5xx status,
// handler error, breaker open) within max_stale, and not after.
func TestStale(t *testing.T) {
	failures := []struct {
		name string
		set  func(u *upstream)
		code string
	}{
		{"503 status", func(u *upstream) { u.status = 503; u.body = `{"type":"x"}` }, "503"},
		{"dial error", func(u *upstream) { u.err = caddyhttp.Error(http.StatusBadGateway, errors.New("connection refused")) }, "502"},
		{"breaker open", func(u *upstream) {
			u.err = caddyhttp.Error(http.StatusServiceUnavailable, errors.New("circuit breaker open"))
		}, "503"},
		{"timeout", func(u *upstream) { u.err = caddyhttp.Error(http.StatusGatewayTimeout, errors.New("timeout")) }, "504"},
	}
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, f := range failures {
				t.Run(f.name, func(t *testing.T) {
					clk := testutil.NewClock(t0)
					h := newTestHandler(t, mk(t), clk, func(h *Handler) { h.MaxStale = caddy60s })
					up := newUpstream(`{"v":1}`)
					call(t, h, up, "GET", "/api/v1/stats", nil)
					up.set(f.set)
					clk.Add(90 * time.Second) // ttl 60s: 30s stale
					w := call(t, h, up, "GET", "/api/v1/stats", nil)
					wantStatusPrefix(t, w, "hubgate; fwd=stale; fwd-status="+f.code+"; ttl=-30;")
					if w.Code != 200 || w.Body.String() != `{"v":1}` || w.Header().Get("Age") != "90" {
						t.Fatalf("stale: %d Age %q body %s", w.Code, w.Header().Get("Age"), w.Body)
					}
					clk.Add(31 * time.Second) // past ttl + max_stale
					w = call(t, h, up, "GET", "/api/v1/stats", nil)
					if w.Code == 200 {
						t.Fatalf("served beyond max_stale: %q", cacheStatus(w))
					}
				})
			}
		})
	}
}

const caddy60s = 60_000_000_000

// TestStaleNeverAfterWrite: an invalidated entry is not served stale.
func TestStaleNeverAfterWrite(t *testing.T) {
	clk := testutil.NewClock(t0)
	h := newTestHandler(t, storesMemory(t), clk, nil)
	up := newUpstream(`{"v":1}`)
	call(t, h, up, "GET", "/api/v1/chantiers/1", nil)
	call(t, h, up, "DELETE", "/api/v1/chantiers/1", nil)
	up.set(func(u *upstream) { u.status = 503 })
	clk.Add(time.Hour)
	if w := call(t, h, up, "GET", "/api/v1/chantiers/1", nil); w.Code != 503 {
		t.Fatalf("invalidated entry served: %d %q", w.Code, cacheStatus(w))
	}
}

// TestWriteInvalidation: a 2xx write invalidates the item, its collection,
// the aggregates and the upstream's Cache-Tag / Surrogate-Key; a failed
// write invalidates nothing.
func TestWriteInvalidation(t *testing.T) {
	paths := []string{"/api/v1/chantiers/1", "/api/v1/chantiers?page=2", "/api/v1/stats", "/api/v1/planning?from=2026-01-01", "/api/v1/pointages", "/api/v1/chantiers/2"}
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		tagHdr  string
		invalid []bool // per path
	}{
		{"PATCH item", "PATCH", "/api/v1/chantiers/1", 200, "", []bool{true, true, true, true, false, false}},
		{"POST collection", "POST", "/api/v1/chantiers", 201, "", []bool{false, true, true, true, false, false}},
		{"DELETE other item", "DELETE", "/api/v1/chantiers/2", 204, "", []bool{false, true, true, true, false, true}},
		{"PUT other resource", "PUT", "/api/v1/pointages/9", 200, "", []bool{false, false, true, true, true, false}},
		{"failed write", "PATCH", "/api/v1/chantiers/1", 412, "", []bool{false, false, false, false, false, false}},
		{"surrogate key", "POST", "/api/auth/thing", 200, "pointages-list", []bool{false, false, false, false, true, false}},
	}
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := newTestHandler(t, mk(t), testutil.NewClock(t0), nil)
					up := newUpstream(`{}`)
					for _, p := range paths {
						u := up
						if strings.HasPrefix(p, "/api/v1/pointages") {
							u = newUpstream(`{}`)
							u.header.Set("Cache-Tag", "pointages-list, other")
						}
						w := call(t, h, u, "GET", p, nil)
						wantStatusPrefix(t, w, "hubgate; fwd=miss; fwd-status=200; stored")
						if w.Header().Get("Cache-Tag") != "" {
							t.Fatal("Cache-Tag leaked to the client")
						}
					}
					wr := newUpstream(`{}`)
					wr.status = tt.status
					if tt.tagHdr != "" {
						wr.header.Set("Surrogate-Key", tt.tagHdr)
					}
					if w := call(t, h, wr, tt.method, tt.path, nil); w.Code != tt.status || w.Header().Get("Surrogate-Key") != "" {
						t.Fatalf("write: %d, Surrogate-Key %q", w.Code, w.Header().Get("Surrogate-Key"))
					}
					for i, p := range paths {
						w := call(t, h, up, "GET", p, nil)
						if gotMiss := strings.HasPrefix(cacheStatus(w), "hubgate; fwd=miss"); gotMiss != tt.invalid[i] {
							t.Errorf("%s after %s %s: Cache-Status %q, want invalidated=%v", p, tt.method, tt.path, cacheStatus(w), tt.invalid[i])
						}
					}
				})
			}
		})
	}
}
