package auth

import (
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// createUserRequest is the body of POST /api/v1/users.
type createUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Nom      string `json:"nom"`
	Role     string `json:"role"`
}

func (s *Service) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	if requireAdmin(w, r) == nil {
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
	c := requireAdmin(w, r)
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
	// An admin demoting themselves could leave nobody able to manage users.
	if c.Subject == strconv.FormatInt(id, 10) && p.Role != nil && *p.Role != RoleAdmin {
		httpx.Problem(w, r, problem.New(http.StatusConflict, "self-demotion", "Conflict",
			"role: administrators cannot remove their own admin role; ask another administrator"))
		return
	}
	u, err := s.UpdateUser(r.Context(), id, p)
	if err != nil {
		writeErr(w, r, "user", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, u)
}

func (s *Service) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	c := requireAdmin(w, r)
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
	if err := s.DeleteUser(r.Context(), id); err != nil {
		writeErr(w, r, "user", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
