package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// App is a client a user has authorized and not revoked.
type App struct {
	// ClientID and Name identify the client.
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	// Scopes are the union of the scopes of the user's live grants.
	Scopes []string `json:"scopes"`
	// AuthorizedAt is the first still-live authorization.
	AuthorizedAt time.Time `json:"authorized_at"`
}

// Apps lists the clients userID has live grants for (a refresh token not
// yet used nor expired, grant and client not revoked).
func (s *Server) Apps(ctx context.Context, userID int64) ([]App, error) {
	rows, err := s.db.Query(ctx, `SELECT g.client_id, c.name, g.scopes, g.created_at FROM oauth_grants g
		JOIN oauth_clients c ON c.id = g.client_id
		WHERE g.user_id = ? AND g.revoked_at IS NULL AND c.revoked_at IS NULL AND EXISTS (
			SELECT 1 FROM oauth_refresh_tokens r WHERE r.grant_id = g.id AND r.used_at IS NULL AND r.expires_at > ?)
		ORDER BY g.created_at`, userID, db.Micros(s.now()))
	if err != nil {
		return nil, fmt.Errorf("list apps of user %d: %w", userID, err)
	}
	defer rows.Close()
	byClient := map[string]*App{}
	out := []App{}
	for rows.Next() {
		var id, name, scopes string
		var created int64
		if err := rows.Scan(&id, &name, &scopes, &created); err != nil {
			return nil, fmt.Errorf("list apps of user %d: %w", userID, err)
		}
		a, ok := byClient[id]
		if !ok {
			a = &App{ClientID: id, Name: name, AuthorizedAt: db.FromMicros(created)}
			byClient[id] = a
		}
		for _, sc := range strings.Fields(scopes) {
			if !contains(a.Scopes, sc) {
				a.Scopes = append(a.Scopes, sc)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, a := range byClient {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AuthorizedAt.Before(out[j].AuthorizedAt) })
	return out, nil
}

// RevokeApp revokes every grant userID gave clientID, with their refresh
// and access tokens (a "token" event per live jti). ErrNotFound when the
// user never authorized the client or already revoked it.
func (s *Server) RevokeApp(ctx context.Context, userID int64, clientID string) error {
	rows, err := s.db.Query(ctx, `SELECT id FROM oauth_grants WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL`, userID, clientID)
	if err != nil {
		return fmt.Errorf("list grants: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("list grants: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrNotFound
	}
	for _, id := range ids {
		if err := s.revokeGrant(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// userSession returns the caller when it is a user with their own session
// token: an OAuth2 app must not list or revoke the user's other apps, and a
// leaked API key must not either.
func userSession(w http.ResponseWriter, r *http.Request) (int64, bool) {
	c := httpx.RequireUser(w, r)
	if c == nil {
		return 0, false
	}
	if c.Method != assertion.MethodJWT {
		httpx.Problem(w, r, problem.New(http.StatusForbidden, "jwt-required", "Forbidden",
			"authorized apps are managed with a user session (POST /api/auth/login), not with an API key or OAuth2 token"))
		return 0, false
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		httpx.Internal(w, r, err)
		return 0, false
	}
	return id, true
}

func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request) {
	uid, ok := userSession(w, r)
	if !ok {
		return
	}
	apps, err := s.Apps(r.Context(), uid)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": apps})
}

func (s *Server) handleRevokeApp(w http.ResponseWriter, r *http.Request) {
	uid, ok := userSession(w, r)
	if !ok {
		return
	}
	err := s.RevokeApp(r.Context(), uid, r.PathValue("client_id"))
	switch {
	case errors.Is(err, ErrNotFound):
		httpx.NotFound(w, r, "authorized app")
	case err != nil:
		httpx.Internal(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// requireAdmin admits administrators; an API key or OAuth2 token of an
// administrator also needs the admin scope.
func requireAdmin(w http.ResponseWriter, r *http.Request) bool {
	c := httpx.RequireAdmin(w, r)
	if c == nil {
		return false
	}
	if c.Method != assertion.MethodJWT && !c.HasScope("admin") {
		httpx.Problem(w, r, problem.New(http.StatusForbidden, "insufficient-scope", "Forbidden", "this credential lacks the admin scope"))
		return false
	}
	return true
}

func (s *Server) handleAdminListClients(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	cs, err := s.ListClients(r.Context())
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": cs})
}

func (s *Server) handleAdminRevokeClient(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	err := s.RevokeClient(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNotFound):
		httpx.NotFound(w, r, "OAuth2 client")
	case err != nil:
		httpx.Internal(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
