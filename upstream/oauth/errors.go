package oauth

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// tokenError is an RFC 6749 §5.2 error. It is the one error format of the
// service that is not problem+json: the RFC fixes it for these endpoints.
type tokenError struct {
	Code string `json:"error"`
	Desc string `json:"error_description,omitempty"`
	// status overrides the default (400; 401 for invalid_client).
	status int
	// retryAfter, when set, is sent as Retry-After (seconds).
	retryAfter int
	// basic: the client tried HTTP Basic, so a 401 names that scheme.
	basic bool
}

func (e *tokenError) Error() string { return e.Code + ": " + e.Desc }

func errGrant(desc string) error   { return &tokenError{Code: "invalid_grant", Desc: desc} }
func errRequest(desc string) error { return &tokenError{Code: "invalid_request", Desc: desc} }

// maxDescriptionLen bounds an error_description (it may quote client input).
const maxDescriptionLen = 200

// sanitizeDescription keeps an error_description within RFC 6749's
// character set (§5.2, §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E): a double
// quote becomes a single one, a backslash a slash, anything else outside
// the set (controls, non-ASCII bytes) a question mark; at most
// maxDescriptionLen characters. Every error_description the server sends
// goes through it, so client input quoted in a message cannot break the
// rule.
func sanitizeDescription(s string) string {
	n := min(len(s), maxDescriptionLen)
	b := make([]byte, 0, n)
	for i := 0; i < len(s) && len(b) < maxDescriptionLen; i++ {
		switch c := s[i]; {
		case c == '"':
			b = append(b, '\'')
		case c == '\\':
			b = append(b, '/')
		case c >= 0x20 && c <= 0x7e:
			b = append(b, c)
		default:
			b = append(b, '?')
		}
	}
	return string(b)
}

// writeTokenJSON sends v with the headers RFC 6749 §5.1 requires.
func writeTokenJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// unavailable reports whether err means the database cannot be reached
// right now (closed pool, broken connection, refused dial, timeout), which
// is a 503 the client may retry, not a 500.
func unavailable(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) || strings.Contains(err.Error(), "database is closed") ||
		strings.Contains(err.Error(), "database is locked")
}

// unavailableRetryAfter is the Retry-After of a 503, in seconds.
const unavailableRetryAfter = 5

// writeTokenError answers err on the token, revocation and introspection
// endpoints: a *tokenError as is, a database outage as 503
// temporarily_unavailable with Retry-After, anything else as a 500
// server_error (logged, not shown). This is the one place their error body
// is written.
func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, err error) {
	var te *tokenError
	if !errors.As(err, &te) {
		if r.Context().Err() != nil {
			return
		}
		s.log.Error("oauth endpoint failed", "path", r.URL.Path, "error", err)
		te = &tokenError{Code: "server_error", Desc: "the server could not complete the request", status: http.StatusInternalServerError}
		if unavailable(err) {
			te = &tokenError{Code: "temporarily_unavailable", Desc: "the service is temporarily unavailable; retry later",
				status: http.StatusServiceUnavailable, retryAfter: unavailableRetryAfter}
		}
	}
	status := te.status
	if status == 0 {
		status = http.StatusBadRequest
		if te.Code == "invalid_client" {
			status = http.StatusUnauthorized
		}
	}
	if status == http.StatusUnauthorized && te.basic {
		// RFC 6749 §5.2: a failed Basic authentication is a 401 naming the scheme.
		w.Header().Set("WWW-Authenticate", `Basic realm="hubchantier", charset="UTF-8"`)
	}
	if te.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(te.retryAfter))
	}
	writeTokenJSON(w, status, tokenError{Code: te.Code, Desc: sanitizeDescription(te.Desc)})
}

// handleWrongMethod answers another method than POST on the JSON
// endpoints: 405 with Allow, in RFC 6749 §5.2 form.
func (s *Server) handleWrongMethod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	s.writeTokenError(w, r, &tokenError{Code: "invalid_request", Desc: "use POST", status: http.StatusMethodNotAllowed})
}
