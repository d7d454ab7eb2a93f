package hubauth

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

var (
	errNoCredentials  = errors.New("no credentials")
	errTwoCredentials = errors.New("more than one credential")
	errIPNotAllowed   = errors.New("client IP not allowed for this key")
	errBadPath        = errors.New("non-canonical request path")
)

// UnavailableRetryAfter is the Retry-After, in seconds, of the 503 answered
// when credentials cannot be verified because the upstream is unreachable.
const UnavailableRetryAfter = 5

// scopeError is a missing scope; need lists the scopes that would do.
type scopeError struct{ need []string }

func (e *scopeError) Error() string { return "insufficient scope" }

// reject answers a refused request with the RFC 6750 challenge and an
// RFC 9457 body. Nothing secret goes into the answer or the log.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, err error) error {
	var p *problem.Problem
	var scopeErr *scopeError
	var throttled *errThrottled
	challenge := fmt.Sprintf(`Bearer realm=%q`, h.Realm)
	reason := "invalid"
	switch {
	case errors.Is(err, errNoCredentials):
		reason = "missing"
		p = problem.New(http.StatusUnauthorized, "unauthenticated", "Authentication required",
			"send an API key (Authorization: Bearer hbc_… or X-API-Key) or a bearer token")
	case errors.Is(err, errTwoCredentials):
		reason = "ambiguous"
		challenge += `, error="invalid_request", error_description="use one authentication method"`
		p = problem.New(http.StatusBadRequest, "invalid-request", "Invalid authentication request",
			"send credentials in Authorization or X-API-Key, not both")
	case errors.Is(err, errBadPath):
		reason = "bad_path"
		challenge = ""
		p = problem.New(http.StatusBadRequest, "invalid-path", "Invalid request path",
			"the path must not contain empty, '.' or '..' segments")
	case errors.As(err, &throttled):
		reason = "throttled"
		challenge = ""
		secs := max(int64((throttled.retry+time.Second-1)/time.Second), 1)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		p = problem.New(http.StatusTooManyRequests, "auth-rate-limited", "Too many failed authentications",
			fmt.Sprintf("too many failed authentications from your network; retry in %d s", secs)).
			With("retry_after", secs)
	case errors.Is(err, hub.ErrUnavailable):
		// The one problem type of every 503 the gateway makes because the
		// upstream cannot be reached (docs/circuit-breaker.md).
		reason = "unavailable"
		w.Header().Set("Retry-After", strconv.Itoa(UnavailableRetryAfter))
		p = problem.New(http.StatusServiceUnavailable, "upstream-unavailable", "Upstream unavailable",
			"credentials cannot be verified right now; retry later").
			With("retry_after", UnavailableRetryAfter)
	case errors.As(err, &scopeErr):
		reason = "insufficient_scope"
		challenge += fmt.Sprintf(`, error="insufficient_scope", scope=%q`, strings.Join(scopeErr.need, " "))
		p = problem.New(http.StatusForbidden, "insufficient-scope", "Insufficient scope",
			"this request needs one of the scopes: "+strings.Join(scopeErr.need, ", ")).
			With("required_scopes", scopeErr.need)
	case errors.Is(err, errIPNotAllowed):
		reason = "ip_not_allowed"
		challenge = ""
		p = problem.New(http.StatusForbidden, "ip-not-allowed", "Client address not allowed",
			"this API key may not be used from your address")
	default:
		desc := "the credential is not valid"
		switch {
		case errors.Is(err, hub.ErrExpired):
			reason, desc = "expired", "the credential has expired"
		case errors.Is(err, hub.ErrRevoked):
			reason, desc = "revoked", "the credential has been revoked"
		case errors.Is(err, hub.ErrMalformed):
			reason, desc = "malformed", "the credential is malformed"
		}
		challenge += fmt.Sprintf(`, error="invalid_token", error_description=%q`, desc)
		p = problem.New(http.StatusUnauthorized, "invalid-token", "Invalid credentials", desc)
	}
	if challenge != "" && p.Status != http.StatusServiceUnavailable {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if h.metrics != nil {
		h.metrics.AuthFailures.WithLabelValues(reason).Inc()
	}
	h.log.Debug("request refused",
		zap.String("reason", reason),
		zap.Int("status", p.Status),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.String("request_id", r.Header.Get(hub.RequestIDHeader)))
	hub.WriteProblem(w, r, p)
	return nil
}
