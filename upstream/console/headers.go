package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CSP is the Content-Security-Policy of every console page: scripts and
// styles from the console's own static files only (no inline script or
// style, no eval), data: images (the API docs renderer's icons), fetches
// to the same origin (the OpenAPI documents), forms posted to the same
// origin, and no framing (frame-ancestors 'none' against clickjacking of
// the Revoke buttons).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setPageHeaders applies the security headers of every HTML page. Pages
// show keys and audit records: never cached, never referred.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// staticHeaders serves the embedded assets: not secret, cacheable for a
// few minutes (they change only with the binary), never sniffed.
func staticHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", CSP)
		next.ServeHTTP(w, r)
	})
}

// funcs are the templates' helpers.
var funcs = map[string]any{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"datep": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"day":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"join": strings.Join,
	// statusLabel is the words of a key status: the status is always
	// written out, its colour only repeats it.
	"statusLabel": func(s string) string {
		switch s {
		case "active":
			return "Active"
		case "revoked":
			return "Revoked"
		case "expired":
			return "Expired"
		case "expiring_soon":
			return "Expiring soon"
		}
		return s
	},
	// deliveryLabel is the words of a webhook delivery status.
	"deliveryLabel": func(s string) string {
		switch s {
		case "pending":
			return "Pending"
		case "succeeded":
			return "Delivered"
		case "failed":
			return "Failed"
		}
		return s
	},
	"ms":  func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
	"add": func(a, b int) int { return a + b },
}
