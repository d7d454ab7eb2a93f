package testutil

import (
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// HonestUpstream is a next handler that answers like the real upstream: a
// HEAD gets the GET's headers (Content-Length of the full body, a JSON
// Content-Type, ETag "v1", then hdr) and no body. It shows each request it
// gets to saw (the method, what the assertion would be signed for…).
func HonestUpstream(status int, body string, hdr map[string]string, saw func(*http.Request)) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		saw(r)
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
