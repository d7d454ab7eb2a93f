// Package headget lets a body transformer (hub_fields, hub_version) answer
// a HEAD with exactly the headers of the GET it would transform: RFC 9110
// §9.3.2 wants the same header fields, Content-Length of the transformed
// body included, only without the body. The HEAD goes inward as a GET, the
// GET answer is transformed as usual and its body is dropped on the way
// out. hub_etag does the same when it is in the chain (then the
// transformers only ever see GETs); this keeps them right without it.
package headget

import (
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/jsonx"
)

// Inward returns a copy of the HEAD r, with its own header map, that asks
// the inner handlers for GET. The identity assertion hub_auth signed is
// bound to the method, so it is verified and signed again for GET (same
// claims, both reads) with the gateway↔upstream secret. ok is false when
// that cannot be done (an assertion but no secret, or one that does not
// verify): the caller then sends the HEAD inward unchanged.
func Inward(r *http.Request, secret []byte, now time.Time) (*http.Request, bool) {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	if !AsGet(r2, secret, now) {
		return r, false
	}
	return r2, true
}

// AsGet turns r (a HEAD whose header map the caller owns) into a GET in
// place: the identity assertion, bound to the method, is verified for HEAD
// and signed again for GET with the same claims. It reports false, leaving
// r unchanged, when an assertion is present but cannot be re-signed (no
// secret, or it does not verify).
func AsGet(r *http.Request, secret []byte, now time.Time) bool {
	if tok := r.Header.Get(assertion.Header); tok != "" {
		if len(secret) == 0 {
			return false
		}
		c, err := assertion.Verify(secret, tok, http.MethodHead, now)
		if err != nil {
			return false
		}
		c.HTTPMethod = http.MethodGet
		tok, err = assertion.Sign(secret, *c, now)
		if err != nil {
			return false
		}
		r.Header.Set(assertion.Header, tok)
	}
	r.Method = http.MethodGet
	return true
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

// Unknown is the fallback for a HEAD that went inward as HEAD and whose
// GET answer would have been transformed: the upstream's Content-Length
// and ETag describe the untransformed body, so they are removed (a HEAD
// answer may omit Content-Length, RFC 9110 §8.6; a wrong one misleads) and
// the ETag moves to hub.upstream_etag as for a rewritten body.
func Unknown(r *http.Request, hdr http.Header) {
	if et := hdr.Get("ETag"); et != "" {
		if v, _ := caddyhttp.GetVar(r.Context(), jsonx.UpstreamETagVar).(string); v == "" {
			caddyhttp.SetVar(r.Context(), jsonx.UpstreamETagVar, et)
		}
	}
	for _, k := range []string{"Content-Length", "ETag", "Accept-Ranges", "Content-Range"} {
		hdr.Del(k)
	}
}
