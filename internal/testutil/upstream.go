package testutil

import (
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// HonestUpstream is a next handler that answers like the real upstream: a
// HEAD gets the GET's headers (Content-Length of the full body, a JSON
// Content-Type, ETag "v1", then hdr) and no body. It records the method and
// identity assertion it saw in *method and *token.
func HonestUpstream(status int, body string, hdr map[string]string, method, token *string) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		*method, *token = r.Method, r.Header.Get(assertion.Header)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return nil
		}
		_, err := w.Write([]byte(body))
		return err
	})
}
