package auth

import (
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// createUserRequest is the body of POST /api/v1/users.
type createUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Nom      string `json:"nom"`
	Role     string `json:"role"`
}

// requireUserAdmin admits the caller to act on users: the permission matrix
// (only administrators write users; see upstream/authz) plus, for an API
// key, the admin scope.
func requireUserAdmin(w http.ResponseWriter, r *http.Request, act authz.Action) *assertion.Claims {
	c := httpx.Identity(r)
	if _, ok := authz.Require(w, r, c, authz.Users, act); !ok {
		return nil
	}
	return requireAdmin(w, r)
}

func (s *Service) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	if requireUserAdmin(w, r, authz.Create) == nil {
		return
	}
	var req createUserRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.Nom == "" {
		httpx.BadRequest(w, r, "nom", "nom is required")
		return
	}
	u, err := s.CreateUser(r.Context(), req.Email, req.Password, req.Nom, req.Role)
	if err != nil {
		writeErr(w, r, "user", err)
		return
	}
	userChanges(w, nil, &u, true)
	w.Header().Set("Location", "/api/v1/users/"+strconv.FormatInt(u.ID, 10))
	httpx.WriteJSON(w, http.StatusCreated, u)
}

func pathUserID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := httpx.ParseID(r.PathValue("id"))
	if !ok {
		httpx.NotFound(w, r, "user")
		return 0, false
	}
	return id, true
}

func (s *Service) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	// Only administrators reach the update: nobody else changes a role, a
	// state or a password here, their own included (no self-promotion).
	c := requireUserAdmin(w, r, authz.Update)
	if c == nil {
		return
	}
	id, ok := pathUserID(w, r)
	if !ok {
		return
	}
	var p UserPatch
	if !httpx.DecodeJSON(w, r, &p) {
		return
	}
	self := c.Subject == strconv.FormatInt(id, 10)
	// An admin demoting themselves could leave nobody able to manage users.
	if self && p.Role != nil && *p.Role != RoleAdmin {
		httpx.Problem(w, r, problem.New(http.StatusConflict, "self-demotion", "Conflict",
			"role: administrators cannot remove their own admin role; ask another administrator"))
		return
	}
	if self && p.Active != nil && !*p.Active {
		httpx.Problem(w, r, problem.New(http.StatusConflict, "self-deactivation", "Conflict",
			"active: administrators cannot deactivate their own account; ask another administrator"))
		return
	}
	before, u, err := s.UpdateUserChanges(r.Context(), id, p)
	if err != nil {
		writeErr(w, r, "user", err)
		return
	}
	userChanges(w, &before, &u, p.Password != nil)
	httpx.WriteJSON(w, http.StatusOK, u)
}

func (s *Service) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	c := requireUserAdmin(w, r, authz.Delete)
	if c == nil {
		return
	}
	id, ok := pathUserID(w, r)
	if !ok {
		return
	}
	if c.Subject == strconv.FormatInt(id, 10) {
		httpx.Problem(w, r, problem.New(http.StatusConflict, "self-deletion", "Conflict",
			"administrators cannot delete their own account; ask another administrator"))
		return
	}
	before, err := s.UserByID(r.Context(), id)
	if err == nil {
		err = s.DeleteUser(r.Context(), id)
	}
	if err != nil {
		writeErr(w, r, "user", err)
		return
	}
	userChanges(w, &before, nil, false)
	w.WriteHeader(http.StatusNoContent)
}

// userChanges reports a user write's before and after states in the
// X-Hub-Changes header, like the domain's writes (hub_audit records it and
// strips it). The password is never in it, not even hashed: a password
// change shows as a password_changed member (whose value the audit
// redaction masks, the member name being what tells the change).
func userChanges(w http.ResponseWriter, before, after *User, passwordChanged bool) {
	b, a := userMap(before), userMap(after)
	if passwordChanged && b != nil && a != nil {
		b["password_changed"], a["password_changed"] = false, true
	}
	w.Header().Set(auditchain.ChangesHeader, auditchain.EncodeChanges(b, a))
}

func userMap(u *User) map[string]any {
	if u == nil {
		return nil
	}
	return map[string]any{
		"id": u.ID, "email": u.Email, "nom": u.Nom, "role": u.Role,
		"active": u.Active, "version": u.Version,
	}
}
