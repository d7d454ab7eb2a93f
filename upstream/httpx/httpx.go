// Package httpx holds the HTTP plumbing shared by the upstream's handlers:
// JSON in and out, problem responses, and the verified gateway identity.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/problem"
)

// MaxBody is the largest JSON request body accepted (1 MiB).
const MaxBody = 1 << 20

type ctxKey struct{}

// WithIdentity returns ctx carrying the verified claims.
func WithIdentity(ctx context.Context, c *assertion.Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// Identity returns the verified claims of the request, or nil.
func Identity(r *http.Request) *assertion.Claims {
	return IdentityOf(r.Context())
}

// IdentityOf returns the verified claims a request context carries, or
// nil: for code below the handler that needs the actor (domain events).
func IdentityOf(ctx context.Context) *assertion.Claims {
	c, _ := ctx.Value(ctxKey{}).(*assertion.Claims)
	return c
}

// RequireUser returns the caller's claims, or writes 401 and returns nil when
// the request is anonymous.
func RequireUser(w http.ResponseWriter, r *http.Request) *assertion.Claims {
	c := Identity(r)
	if c == nil || c.Anonymous() {
		Problem(w, r, problem.New(http.StatusUnauthorized, "unauthenticated", "Unauthorized", "this endpoint needs an authenticated caller"))
		return nil
	}
	return c
}

// RequireAdmin returns the caller's claims, or writes 401/403 and returns nil
// unless the caller has the admin role. Behind auth.Service.Principals (as
// server.New assembles it) the claims' Role is the user's current role,
// loaded from the database, never the one a token carried.
func RequireAdmin(w http.ResponseWriter, r *http.Request) *assertion.Claims {
	c := RequireUser(w, r)
	if c == nil {
		return nil
	}
	if c.Role != "admin" {
		Problem(w, r, problem.New(http.StatusForbidden, "forbidden", "Forbidden", "this endpoint is for administrators"))
		return nil
	}
	return c
}

// WriteJSON sends v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		Problem(w, nil, problem.New(http.StatusInternalServerError, "internal", "Internal Server Error", "could not encode the response"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Problem writes p.
func Problem(w http.ResponseWriter, r *http.Request, p *problem.Problem) { problem.Write(w, r, p) }

// BadRequest writes a 400 validation problem naming the field.
func BadRequest(w http.ResponseWriter, r *http.Request, field, detail string) {
	p := problem.New(http.StatusBadRequest, "validation", "Invalid request", detail)
	if field != "" {
		p.With("errors", []map[string]string{{"field": field, "message": detail}})
	}
	Problem(w, r, p)
}

// NotFound writes a 404 problem.
func NotFound(w http.ResponseWriter, r *http.Request, what string) {
	Problem(w, r, problem.New(http.StatusNotFound, "not-found", "Not Found", what+" not found"))
}

// Internal writes a 500 problem; err is logged, never shown to the client.
func Internal(w http.ResponseWriter, r *http.Request, err error) {
	if r != nil && r.Context().Err() != nil {
		return // the client has gone: nobody to answer
	}
	path := ""
	if r != nil {
		path = r.URL.Path
	}
	slog.Error("internal error", "path", path, "error", err)
	Problem(w, r, problem.New(http.StatusInternalServerError, "internal", "Internal Server Error", "the server could not complete the request"))
}

// DecodeJSON reads a JSON object body into v (at most MaxBody bytes, unknown
// fields refused, CheckJSON's rules applied). On failure it writes a 400 (or
// 413/415) and returns false. Error texts name JSON types, never Go types.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		Problem(w, r, problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type", "send application/json"))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		Problem(w, r, problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", fmt.Sprintf("the body exceeds %d bytes", MaxBody)))
		return false
	case err != nil:
		BadRequest(w, r, "", "the body could not be read")
		return false
	case len(bytes.TrimSpace(body)) == 0:
		BadRequest(w, r, "", "a JSON body is required")
		return false
	}
	if err := CheckJSON(body); err != nil {
		BadRequest(w, r, "", "invalid JSON: "+err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			BadRequest(w, r, "", "the body must be "+jsonKind(typeErr.Type))
		case errors.As(err, &typeErr):
			BadRequest(w, r, typeErr.Field, fmt.Sprintf("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type)))
		default:
			BadRequest(w, r, "", "invalid JSON: "+err.Error())
		}
		return false
	}
	if dec.More() {
		BadRequest(w, r, "", "the body must hold a single JSON value")
		return false
	}
	return true
}

func isJSON(ct string) bool {
	for i := 0; i < len(ct); i++ {
		if ct[i] == ';' {
			ct = ct[:i]
			break
		}
	}
	return ct == "application/json" || ct == "application/merge-patch+json" || (len(ct) > 5 && ct[len(ct)-5:] == "+json")
}
