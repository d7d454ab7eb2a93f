package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// Problem types of Principals' refusals (401, stable).
const (
	// TypeUnknownUser: the credential's subject names no current user
	// (deleted, or never existed).
	TypeUnknownUser = "unknown-user"
	// TypeUserInactive: the user was deactivated.
	TypeUserInactive = "user-inactive"
)

// Account is the authorization state of a user, as Principals loads it on
// every request.
type Account struct {
	// Role is the user's current role.
	Role string
	// Active is false for a deactivated user.
	Active bool
}

// Account returns the current role and state of user id (ErrNotFound when
// there is none). It is one primary-key lookup (BenchmarkAccount).
func (s *Service) Account(ctx context.Context, id int64) (Account, error) {
	var a Account
	err := s.db.QueryRow(ctx, `SELECT role, active FROM users WHERE id = ?`, id).Scan(&a.Role, &a.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("load account %d: %w", id, err)
	}
	return a, nil
}

// Principals wraps the /api/* handlers (behind httpx.RequireAssertion): for
// an authenticated caller it loads the user named by the assertion's
// subject and replaces the assertion's role by the user's CURRENT role, so
// that no handler ever trusts a role carried by a token or by the gateway.
// A subject that names no user, or a deactivated user, gets 401
// problem+json whatever its credential (a JWT still unexpired, a key the
// gateway still had cached).
func (s *Service) Principals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := httpx.Identity(r)
		if c == nil || c.Anonymous() || !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		unauthorized := func(slug, detail string) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hubchantier", error="invalid_token"`)
			httpx.Problem(w, r, problem.New(http.StatusUnauthorized, slug, "Unauthorized", detail))
		}
		id, err := strconv.ParseInt(c.Subject, 10, 64)
		if err != nil || id < 1 {
			unauthorized(TypeUnknownUser, "the credential names no current user")
			return
		}
		a, err := s.Account(r.Context(), id)
		switch {
		case errors.Is(err, ErrNotFound):
			unauthorized(TypeUnknownUser, "the credential names no current user")
			return
		case err != nil:
			httpx.Internal(w, r, err)
			return
		case !a.Active:
			unauthorized(TypeUserInactive, "the user's account is deactivated")
			return
		}
		cur := *c
		cur.Role = a.Role
		next.ServeHTTP(w, r.WithContext(httpx.WithIdentity(r.Context(), &cur)))
	})
}

// MaxCutWait bounds how long token issuance waits for the second after the
// user's last credential cut (a cut is at most one second old when a login
// follows it; more means this host's clock lags the one that cut).
const MaxCutWait = 2 * time.Second

// issueTime returns the iat of an access token for user id: now, unless the
// user's credentials were cut during the current second. JWT iat has
// one-second granularity and gateways refuse iat ≤ cut, so a token issued
// in the same second as a cut (after it) would be born dead: issuance
// waits for the next second instead (under a second, only right after a
// role change or deactivation). Tokens of deactivated users are refused
// (ErrUserInactive), of unknown ones ErrNotFound.
func (s *Service) issueTime(ctx context.Context, id int64) (time.Time, error) {
	var active bool
	var cutMicros int64
	err := s.db.QueryRow(ctx, `SELECT active, tokens_valid_after FROM users WHERE id = ?`, id).Scan(&active, &cutMicros)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load user %d for a token: %w", id, err)
	}
	if !active {
		return time.Time{}, ErrUserInactive
	}
	cut := db.FromMicros(cutMicros)
	waited := time.Duration(0)
	for {
		now := s.now()
		if now.Unix() > cut.Unix() {
			return now, nil
		}
		d := time.Unix(cut.Unix()+1, 0).Sub(now)
		if waited+d > MaxCutWait {
			return time.Time{}, fmt.Errorf("issue token for user %d: clock is %s behind the last credential cut", id, d)
		}
		if err := s.o.Sleep(ctx, d); err != nil {
			return time.Time{}, err
		}
		waited += d
	}
}
