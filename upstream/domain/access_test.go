package domain

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// site is a small world for the permission tests: an ouvrier assigned to
// chantier a (not b), with one pointage of their own and one of a colleague.
type site struct {
	h                      *harness
	admin, cond, ouv, peer int64
	a, b                   int64 // chantiers
	own, other             int64 // pointages
	sigA, sigB, docB       int64
}

// loginScopes are the scopes of each role's login token (auth.RoleScopes).
var loginScopes = map[string][]string{
	"admin":      {"read", "write", "admin"},
	"conducteur": {"read", "write"},
	"ouvrier":    {"read", "pointages:write", "signalements:write"},
}

func claims(id int64, role string, scopes ...string) *assertion.Claims {
	if scopes == nil {
		scopes = loginScopes[role]
	}
	return &assertion.Claims{Subject: strconv.FormatInt(id, 10), Role: role, Method: assertion.MethodJWT, Scopes: scopes}
}

func newSite(t *testing.T, d *db.DB) *site {
	h := newHarness(t, d)
	s := &site{h: h}
	s.admin = h.user("admin@example.test", "Admin", "admin")
	s.cond = h.user("cond@example.test", "Conducteur", "conducteur")
	s.ouv = h.user("ouv@example.test", "Ouvrier", "ouvrier")
	s.peer = h.user("peer@example.test", "Collègue", "ouvrier")
	h.who = claims(s.admin, "admin")
	s.a = h.create("chantiers", map[string]any{"nom": "A"})
	s.b = h.create("chantiers", map[string]any{"nom": "B"})
	h.create("affectations", map[string]any{"chantier_id": s.a, "user_id": s.ouv, "date_debut": "2025-01-01"})
	h.create("affectations", map[string]any{"chantier_id": s.b, "user_id": s.peer, "date_debut": "2025-01-01"})
	s.own = h.create("pointages", map[string]any{"chantier_id": s.a, "user_id": s.ouv, "date": "2025-03-03", "heures": 8})
	s.other = h.create("pointages", map[string]any{"chantier_id": s.b, "user_id": s.peer, "date": "2025-03-03", "heures": 7})
	s.sigA = h.create("signalements", map[string]any{"chantier_id": s.a, "titre": "fuite"})
	s.sigB = h.create("signalements", map[string]any{"chantier_id": s.b, "titre": "chute"})
	s.docB = h.create("documents", map[string]any{"chantier_id": s.b, "nom": "plan.pdf"})
	return s
}

// as switches the caller.
func (s *site) as(c *assertion.Claims) *harness { s.h.who = c; return s.h }

// ids lists the ids of a list answer.
func ids(t *testing.T, m map[string]any) []int64 {
	t.Helper()
	var out []int64
	for _, row := range m["data"].([]any) {
		out = append(out, int64(row.(map[string]any)["id"].(float64)))
	}
	return out
}

// expectDenied checks a 403 permission-denied problem.
func expectDenied(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	res := w.Result()
	var p struct {
		Type string `json:"type"`
	}
	_ = json.NewDecoder(res.Body).Decode(&p)
	if res.StatusCode != http.StatusForbidden || p.Type != "urn:hubchantier:problem:permission-denied" ||
		res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: status %d type %q, want 403 permission-denied", what, res.StatusCode, p.Type)
	}
}

// TestMatrixOuvrier: reads limited to their own pointages and affectations
// and to the chantiers (documents, signalements) they are assigned to;
// writes limited to their own unvalidated pointages and to signalements on
// their chantiers; no chantier, no stats, no other user.
func TestMatrixOuvrier(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newSite(t, d)
		h := s.as(claims(s.ouv, "ouvrier"))

		// Chantiers: read assigned only; unassigned is 404 (not leaked); no writes.
		h.ok(200, "GET", path("chantiers", s.a), nil)
		h.ok(404, "GET", path("chantiers", s.b), nil)
		if got := ids(t, h.ok(200, "GET", "/api/v1/chantiers", nil)); !slices.Equal(got, []int64{s.a}) {
			t.Errorf("chantiers listed %v, want [%d]", got, s.a)
		}
		if m := h.ok(200, "GET", "/api/v1/chantiers?cursor=", nil); !slices.Equal(ids(t, m), []int64{s.a}) {
			t.Errorf("chantiers by cursor %v", ids(t, m))
		}
		expectDenied(t, h.do("POST", "/api/v1/chantiers", map[string]any{"nom": "C"}), "create chantier")
		expectDenied(t, h.do("PATCH", path("chantiers", s.a), map[string]any{"nom": "A2"}), "patch chantier")
		expectDenied(t, h.do("DELETE", path("chantiers", s.a), nil), "delete chantier")

		// Pointages: own only.
		h.ok(200, "GET", path("pointages", s.own), nil)
		h.ok(404, "GET", path("pointages", s.other), nil)
		if got := ids(t, h.ok(200, "GET", "/api/v1/pointages", nil)); !slices.Equal(got, []int64{s.own}) {
			t.Errorf("pointages listed %v", got)
		}
		mine := h.create("pointages", map[string]any{"chantier_id": s.a, "user_id": s.ouv, "date": "2025-03-04", "heures": 7.5})
		expectDenied(t, h.do("POST", "/api/v1/pointages", map[string]any{"chantier_id": s.a, "user_id": s.peer, "date": "2025-03-04", "heures": 8}), "pointage for a colleague")
		expectDenied(t, h.do("POST", "/api/v1/pointages", map[string]any{"chantier_id": s.a, "user_id": s.ouv, "date": "2025-03-05", "heures": 8, "valide": true}), "self-validated pointage")
		h.ok(200, "PATCH", path("pointages", mine), map[string]any{"heures": 7})
		expectDenied(t, h.do("PATCH", path("pointages", mine), map[string]any{"valide": true}), "validate own pointage")
		expectDenied(t, h.do("PATCH", path("pointages", mine), map[string]any{"user_id": s.peer}), "hand a pointage to a colleague")
		h.ok(404, "PATCH", path("pointages", s.other), map[string]any{"heures": 1})
		expectDenied(t, h.do("DELETE", path("pointages", mine), nil), "delete pointage")

		// Signalements and documents: chantiers assigned.
		h.ok(200, "GET", path("signalements", s.sigA), nil)
		h.ok(404, "GET", path("signalements", s.sigB), nil)
		if got := ids(t, h.ok(200, "GET", "/api/v1/signalements", nil)); !slices.Equal(got, []int64{s.sigA}) {
			t.Errorf("signalements listed %v", got)
		}
		h.create("signalements", map[string]any{"chantier_id": s.a, "titre": "échafaudage"})
		expectDenied(t, h.do("POST", "/api/v1/signalements", map[string]any{"chantier_id": s.b, "titre": "x"}), "signalement on another chantier")
		expectDenied(t, h.do("PATCH", path("signalements", s.sigA), map[string]any{"statut": "ferme"}), "close signalement")
		h.ok(404, "GET", path("documents", s.docB), nil)
		expectDenied(t, h.do("POST", "/api/v1/documents", map[string]any{"chantier_id": s.a, "nom": "x"}), "create document")

		// Affectations, planning, users: their own; stats: none.
		if got := ids(t, h.ok(200, "GET", "/api/v1/affectations", nil)); len(got) != 1 {
			t.Errorf("affectations listed %v", got)
		}
		if m := h.ok(200, "GET", "/api/v1/planning", nil); len(ids(t, m)) != 1 {
			t.Errorf("planning %v", ids(t, m))
		}
		expectDenied(t, h.do("POST", "/api/v1/affectations", map[string]any{"chantier_id": s.b, "user_id": s.ouv, "date_debut": "2025-01-01"}), "self-assignment")
		if got := ids(t, h.ok(200, "GET", "/api/v1/users", nil)); !slices.Equal(got, []int64{s.ouv}) {
			t.Errorf("users listed %v", got)
		}
		h.ok(404, "GET", path("users", s.peer), nil)
		expectDenied(t, h.do("GET", "/api/v1/stats", nil), "stats")
	})
}

// TestMatrixConducteur: manages chantiers and affectations, validates
// pointages, reads users and stats.
func TestMatrixConducteur(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newSite(t, d)
		h := s.as(claims(s.cond, "conducteur"))
		c := h.create("chantiers", map[string]any{"nom": "C"})
		h.ok(200, "PATCH", path("chantiers", c), map[string]any{"statut": "en_cours"})
		h.create("affectations", map[string]any{"chantier_id": c, "user_id": s.ouv, "date_debut": "2025-02-01"})
		h.ok(200, "PATCH", path("pointages", s.own), map[string]any{"valide": true})
		h.ok(200, "GET", path("signalements", s.sigB), nil)
		if got := ids(t, h.ok(200, "GET", "/api/v1/chantiers", nil)); len(got) != 3 {
			t.Errorf("chantiers listed %v", got)
		}
		h.ok(200, "GET", "/api/v1/stats", nil)
		h.ok(200, "GET", path("users", s.peer), nil)
		h.ok(204, "DELETE", path("chantiers", c), nil)

		// The ouvrier's validated pointage is now frozen for them.
		s.as(claims(s.ouv, "ouvrier"))
		expectDenied(t, h.do("PATCH", path("pointages", s.own), map[string]any{"heures": 9}), "change a validated pointage")
	})
}

// TestScopesIntersectRole: a credential acts with the intersection of its
// scopes and the role's permissions, whichever is narrower.
func TestScopesIntersectRole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newSite(t, d)
		// An admin's read-only key writes nothing.
		h := s.as(claims(s.admin, "admin", "read"))
		h.ok(200, "GET", path("chantiers", s.b), nil)
		expectDenied(t, h.do("POST", "/api/v1/chantiers", map[string]any{"nom": "C"}), "read-only key creates")
		// A resource scope covers its resource only.
		h = s.as(claims(s.cond, "conducteur", "pointages:*"))
		h.ok(200, "GET", path("pointages", s.other), nil)
		expectDenied(t, h.do("GET", path("chantiers", s.a), nil), "pointages key reads chantiers")
		// A "write" key of a user demoted to ouvrier: pointages yes, chantiers no.
		h = s.as(claims(s.ouv, "ouvrier", "read", "write"))
		h.create("pointages", map[string]any{"chantier_id": s.a, "user_id": s.ouv, "date": "2025-03-06", "heures": 8})
		expectDenied(t, h.do("POST", "/api/v1/chantiers", map[string]any{"nom": "C"}), "demoted write key creates a chantier")
		// No role (a claim the principal middleware would have refused).
		h = s.as(claims(s.ouv, "", "read", "write"))
		expectDenied(t, h.do("GET", "/api/v1/pointages", nil), "no role")
		h.who = nil
		if w := h.do("GET", "/api/v1/pointages", nil); w.Code != http.StatusUnauthorized {
			t.Errorf("anonymous: %d", w.Code)
		}
	})
}
