package auth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// requireJWTUser returns the caller when it authenticated with a user JWT.
// API keys never mint or rotate keys: a leaked key must not be able to
// outlive its own revocation by creating another.
func requireJWTUser(w http.ResponseWriter, r *http.Request) *assertion.Claims {
	c := httpx.RequireUser(w, r)
	if c == nil {
		return nil
	}
	if c.Method != assertion.MethodJWT {
		forbidden(w, r, "jwt-required", "API keys can only be managed with a user session (log in with POST /api/auth/login and send the access token), not with an API key or OAuth2 token")
		return nil
	}
	return c
}

// requireAdmin is httpx.RequireAdmin plus, for API-key callers, the admin scope.
func requireAdmin(w http.ResponseWriter, r *http.Request) *assertion.Claims {
	c := httpx.RequireAdmin(w, r)
	if c != nil && c.Method == assertion.MethodAPIKey && !c.HasScope("admin") {
		forbidden(w, r, "insufficient-scope", "this API key lacks the admin scope")
		return nil
	}
	return c
}

func callerID(w http.ResponseWriter, r *http.Request, c *assertion.Claims) (int64, bool) {
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		httpx.Internal(w, r, err)
		return 0, false
	}
	return id, true
}

func (s *Service) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	c := requireJWTUser(w, r)
	if c == nil {
		return
	}
	var req CreateKeyRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.RateLimit != "" && c.Role != RoleAdmin {
		forbidden(w, r, "forbidden-field", "rate_limit: only administrators set per-key rate limits")
		return
	}
	uid, ok := callerID(w, r, c)
	if !ok {
		return
	}
	u, err := s.UserByID(r.Context(), uid)
	if err != nil {
		writeErr(w, r, "user", err)
		return
	}
	s.writeCreated(w, r, http.StatusCreated)(s.createKey(r.Context(), u, req))
}

func (s *Service) writeCreated(w http.ResponseWriter, r *http.Request, status int) func(Created, error) {
	return func(k Created, err error) {
		if err != nil {
			writeErr(w, r, "API key", err)
			return
		}
		w.Header().Set("Cache-Control", "no-store") // the body holds a secret
		if status == http.StatusCreated {
			w.Header().Set("Location", "/api/auth/api-keys/"+k.ID)
		}
		httpx.WriteJSON(w, status, k)
	}
}

// keyList is the envelope of key listings.
type keyList struct {
	Data []KeyInfo `json:"data"`
}

func (s *Service) handleListKeys(w http.ResponseWriter, r *http.Request) {
	c := httpx.RequireUser(w, r)
	if c == nil {
		return
	}
	uid, ok := callerID(w, r, c)
	if !ok {
		return
	}
	keys, err := s.ListAPIKeys(r.Context(), uid)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-cache")
	httpx.WriteJSON(w, http.StatusOK, keyList{Data: keys})
}

// ownKey loads key id when it belongs to the caller; another user's key is
// reported as missing so ids of others cannot be probed.
func (s *Service) ownKey(w http.ResponseWriter, r *http.Request, c *assertion.Claims) (string, bool) {
	id := r.PathValue("id")
	uid, ok := callerID(w, r, c)
	if !ok {
		return "", false
	}
	if !apikey.ValidID(id) {
		httpx.NotFound(w, r, "API key")
		return "", false
	}
	k, err := s.loadKey(r.Context(), id)
	if err == nil && k.UserID != uid {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, "API key", err)
		return "", false
	}
	return id, true
}

func (s *Service) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	c := httpx.RequireUser(w, r)
	if c == nil {
		return
	}
	// A key may revoke itself (someone who found a leaked key can kill it);
	// managing other keys needs a user session.
	if !(c.Method == assertion.MethodAPIKey && c.KeyID == r.PathValue("id")) {
		if c = requireJWTUser(w, r); c == nil {
			return
		}
	}
	id, ok := s.ownKey(w, r, c)
	if !ok {
		return
	}
	if err := s.RevokeAPIKey(r.Context(), id); err != nil {
		writeErr(w, r, "API key", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleRotateKey(w http.ResponseWriter, r *http.Request) {
	c := requireJWTUser(w, r)
	if c == nil {
		return
	}
	id, ok := s.ownKey(w, r, c)
	if !ok {
		return
	}
	s.writeCreated(w, r, http.StatusOK)(s.RotateAPIKey(r.Context(), id))
}

// adminCreateKeyRequest is the body of POST /api/v1/admin/api-keys.
type adminCreateKeyRequest struct {
	CreateKeyRequest
	// UserID owns the new key; a JSON number or a decimal string.
	UserID json.RawMessage `json:"user_id"`
}

func (s *Service) handleAdminCreateKey(w http.ResponseWriter, r *http.Request) {
	if requireAdmin(w, r) == nil || requireJWTUser(w, r) == nil {
		return
	}
	var req adminCreateKeyRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	ref := strings.Trim(string(req.UserID), `"`)
	if _, err := strconv.ParseInt(ref, 10, 64); err != nil {
		httpx.BadRequest(w, r, "user_id", "user_id is required: the id of the user who will own the key")
		return
	}
	s.writeCreated(w, r, http.StatusCreated)(s.CreateAPIKey(r.Context(), ref, req.CreateKeyRequest))
}

func (s *Service) handleAdminListKeys(w http.ResponseWriter, r *http.Request) {
	if requireAdmin(w, r) == nil {
		return
	}
	var uid int64
	if v := r.URL.Query().Get("user_id"); v != "" {
		var err error
		if uid, err = strconv.ParseInt(v, 10, 64); err != nil || uid <= 0 {
			httpx.BadRequest(w, r, "user_id", "user_id must be a positive integer")
			return
		}
	}
	keys, err := s.ListAPIKeys(r.Context(), uid)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-cache")
	httpx.WriteJSON(w, http.StatusOK, keyList{Data: keys})
}

func (s *Service) handleAdminRevokeKey(w http.ResponseWriter, r *http.Request) {
	if requireAdmin(w, r) == nil {
		return
	}
	if err := s.RevokeAPIKey(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, r, "API key", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleAdminRotateKey(w http.ResponseWriter, r *http.Request) {
	if requireAdmin(w, r) == nil || requireJWTUser(w, r) == nil {
		return
	}
	s.writeCreated(w, r, http.StatusOK)(s.RotateAPIKey(r.Context(), r.PathValue("id")))
}
