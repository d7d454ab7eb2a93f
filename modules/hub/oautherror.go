package hub

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/internal/problem"
)

// oauthEndpoints are the paths of the upstream's OAuth2 server whose clients
// read errors as RFC 6749 §5.2 JSON (token, RFC 7009 revocation, RFC 7662
// introspection), not as problem documents: a strict OAuth client library
// cannot parse application/problem+json.
var oauthEndpoints = map[string]bool{
	"/oauth/token":      true,
	"/oauth/revoke":     true,
	"/oauth/introspect": true,
}

// IsOAuthEndpoint reports whether the gateway answers errors on path in
// RFC 6749 §5.2 form (/oauth/token, /oauth/revoke, /oauth/introspect).
func IsOAuthEndpoint(path string) bool { return oauthEndpoints[path] }

// WriteProblem sends p as the whole response, like problem.Write, in the
// format the endpoint's clients read: on the OAuth endpoints
// (IsOAuthEndpoint) an RFC 6749 §5.2 error ({"error", "error_description"}),
// elsewhere an RFC 9457 problem document. Every error the gateway itself makes goes through here, so the
// format follows the route in one place. Headers already set on w
// (Retry-After, WWW-Authenticate) are kept either way.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	if r == nil || !IsOAuthEndpoint(r.URL.Path) {
		problem.Write(w, r, p)
		return
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{OAuthErrorCode(p.Status), OAuthDescription(p.Detail)})
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// RFC 6749 §5.1: token endpoint answers are not to be stored.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// OAuthErrorCode maps a gateway-made status to an OAuth2 error code:
// invalid_request for the client's malformed, oversized or too slow
// requests, invalid_client for 401, access_denied for 403,
// temporarily_unavailable (RFC 6749 §4.1.2.1's code for "try again later")
// for 429 and 503, server_error for the other failures.
func OAuthErrorCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusForbidden:
		return "access_denied"
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status >= 400 && status < 500:
		return "invalid_request"
	}
	return "server_error"
}

// OAuthDescription keeps s within the character set RFC 6749 §5.2 allows
// in error_description (%x20-21 / %x23-5B / %x5D-7E: printable ASCII
// without '"' and '\'): quotes become ', a backslash /, "…" three dots, and
// other characters are dropped.
func OAuthDescription(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"':
			b.WriteByte('\'')
		case c == '\\':
			b.WriteByte('/')
		case c == '…':
			b.WriteString("...")
		case c >= 0x20 && c <= 0x7e:
			b.WriteRune(c)
		}
	}
	return b.String()
}
