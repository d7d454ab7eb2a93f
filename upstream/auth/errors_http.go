package auth

import (
	"errors"
	"net/http"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// writeErr maps a Service error to its problem response. what names the
// resource in 404s ("API key", "user").
func writeErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe) && fe.Forbidden:
		p := problem.New(http.StatusForbidden, "scope-escalation", "Forbidden", fe.Error())
		p.With("errors", []map[string]string{{"field": fe.Field, "message": fe.Msg}})
		httpx.Problem(w, r, p)
	case errors.As(err, &fe):
		httpx.BadRequest(w, r, fe.Field, fe.Error())
	case errors.Is(err, ErrNotFound):
		httpx.NotFound(w, r, what)
	case errors.Is(err, ErrTooManyKeys):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "too-many-api-keys", "Too many API keys",
			"a user may hold at most 10 active API keys: revoke one before creating another").With("limit", MaxActiveKeys))
	case errors.Is(err, ErrKeyInactive):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "api-key-inactive", "API key inactive",
			"a revoked or expired API key cannot be rotated; create a new one"))
	case errors.Is(err, ErrEmailTaken):
		p := problem.New(http.StatusConflict, "email-taken", "Email already registered", "a user with this email already exists")
		p.With("errors", []map[string]string{{"field": "email", "message": "already registered"}})
		httpx.Problem(w, r, p)
	case errors.Is(err, ErrUserHasResources):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "user-referenced", "User still referenced",
			"the user is still referenced by other records (pointages, affectations…); reassign them first"))
	case errors.Is(err, ErrConflict):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "conflict", "Conflict", err.Error()))
	default:
		httpx.Internal(w, r, err)
	}
}

// forbidden writes a 403 problem with the given detail.
func forbidden(w http.ResponseWriter, r *http.Request, slug, detail string) {
	httpx.Problem(w, r, problem.New(http.StatusForbidden, slug, "Forbidden", detail))
}
