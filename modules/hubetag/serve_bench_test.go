package hubetag

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// BenchmarkServeHTTP: hub_etag's warm paths on a row — the upstream's tag
// kept (untouched body), the ETag computed from the bytes sent (a list
// without a tag), and a conditional GET answered 304.
func BenchmarkServeHTTP(b *testing.B) {
	h := newHandler(b)
	ok := func(code int) func(w *httptest.ResponseRecorder) error {
		return func(w *httptest.ResponseRecorder) error {
			if w.Code != code || w.Header().Get("ETag") == "" {
				return fmt.Errorf("status %d, ETag %q", w.Code, w.Header().Get("ETag"))
			}
			return nil
		}
	}
	get := func(hdr ...string) func(w http.ResponseWriter) *http.Request {
		return func(w http.ResponseWriter) *http.Request {
			return testutil.BenchRequest(w, http.MethodGet, "/api/v1/chantiers/1", hdr...)
		}
	}
	// The upstream writes its body in one call.
	origin := func(etag string) caddyhttp.Handler {
		return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			hdr := w.Header()
			hdr.Set("Content-Type", "application/json")
			hdr.Set("Content-Length", strconv.Itoa(len(rowBody)))
			if etag != "" {
				hdr.Set("ETag", etag)
			}
			w.WriteHeader(http.StatusOK)
			_, err := io.WriteString(w, rowBody)
			return err
		})
	}
	b.Run("upstream-tag", func(b *testing.B) {
		testutil.BenchServe(b, h, get(), origin(`"v3"`), ok(http.StatusOK))
	})
	b.Run("computed", func(b *testing.B) {
		testutil.BenchServe(b, h, get(), origin(""), ok(http.StatusOK))
	})
	b.Run("304", func(b *testing.B) {
		testutil.BenchServe(b, h, get("If-None-Match", `"v3"`), origin(`"v3"`), ok(http.StatusNotModified))
	})
}
