package hub

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A body transformer (hub_etag, hub_fields, hub_version) answers a HEAD
// with exactly the headers of the GET it would transform: RFC 9110 §9.3.2
// wants the same header fields, Content-Length of the transformed body
// included, only without the body. The HEAD goes inward, and upstream, as a
// GET; the GET answer is transformed as usual and its body dropped on the
// way out. The identity assertion is bound to the method the upstream is
// asked: it is signed at the proxy boundary ({hub.assertion}) for
// UpstreamMethod, so nothing is signed again here.

// ForwardAsGet turns r, a HEAD whose header map the caller owns, into a GET
// in place and records that the upstream is asked GET.
func ForwardAsGet(r *http.Request) {
	r.Method = http.MethodGet
	if s := stateOf(r, true); s != nil {
		s.upstreamMethod = http.MethodGet
	}
}

// HeadAsGet returns, for the HEAD r, a copy with its own header map that
// asks the inner handlers (and the upstream) for GET, and a writer that
// sends w's headers and status but drops the body.
func HeadAsGet(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	ForwardAsGet(r2)
	return DropBody(w), r2
}

// UpstreamMethod is the method the upstream is asked for r: GET after
// ForwardAsGet, else r's own.
func UpstreamMethod(r *http.Request) string {
	if s := stateOf(r, false); s != nil && s.upstreamMethod != "" {
		return s.upstreamMethod
	}
	return r.Method
}

// DropBody wraps the client's writer of a HEAD turned into a GET: headers
// and status go out as written, the body is discarded.
func DropBody(w http.ResponseWriter) http.ResponseWriter {
	return bodyless{&caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
}

type bodyless struct {
	*caddyhttp.ResponseWriterWrapper
}

// Write discards p: the client asked HEAD.
func (b bodyless) Write(p []byte) (int, error) {
	return len(p), nil
}

// ReadFrom discards the body reverse_proxy copies; the wrapped writer's
// ReadFrom would send it.
func (b bodyless) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}
