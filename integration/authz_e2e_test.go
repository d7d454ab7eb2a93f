package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// userIDOf finds a user's id by email through the gateway, as an admin.
func (s *stack) userIDOf(admin []string, email string) string {
	s.t.Helper()
	r := s.gwDo("GET", "/api/v1/users?limit=100", nil, admin...)
	if r.status != 200 {
		s.t.Fatalf("list users: %d %s", r.status, r.body)
	}
	for _, u := range r.json(s.t)["data"].([]any) {
		m := u.(map[string]any)
		if m["email"] == email {
			return fmt.Sprint(m["id"])
		}
	}
	s.t.Fatalf("user %s not listed", email)
	return ""
}

// problemTypeOf returns the slug of a problem answer's type.
func problemTypeOf(t *testing.T, r response) string {
	t.Helper()
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("status %d without problem+json: %s", r.status, r.body)
	}
	typ, _ := r.json(t)["type"].(string)
	return typ[strings.LastIndex(typ, ":")+1:]
}

// TestDemotionE2E replays finding #2 of issue 10 on the real binaries: an
// admin demoted to ouvrier loses admin power at once, their JWT dies at the
// gateway within a second, their write key narrows to what an ouvrier may
// do, a fresh login works as ouvrier, and they cannot raise their role back.
// Then a deactivation cuts everything.
func TestDemotionE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[3]} {
		t.Run(b.name, func(t *testing.T) {
			s := newStack(t, b)
			s.createUser("a@example.com", "admin")
			s.createUser("b@example.com", "admin")
			adminA := bearer(s.login("a@example.com", "correct-horse-battery"))
			jwtB := s.login("b@example.com", "correct-horse-battery")
			idB := s.userIDOf(adminA, "b@example.com")
			_, keyB := s.createKey(jwtB, map[string]any{"name": "erp", "scopes": []string{"read", "write"}})

			r := s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Avant"}, bearer(jwtB)...)
			if r.status != 201 {
				t.Fatalf("admin B creates a chantier before the demotion: %d %s", r.status, r.body)
			}
			chantier := fmt.Sprint(r.json(t)["id"])

			r = s.gwDo("PATCH", "/api/v1/users/"+idB, map[string]any{"role": "ouvrier"}, adminA...)
			if r.status != 200 || r.json(t)["role"] != "ouvrier" {
				t.Fatalf("demote B: %d %s", r.status, r.body)
			}

			// At once: the old JWT no longer manages users nor creates
			// chantiers (403 upstream, or 401 once the gateway cut it).
			evil := map[string]any{"email": "evil@example.com", "password": "correct-horse-battery", "nom": "evil", "role": "admin"}
			if r := s.gwDo("POST", "/api/v1/users", evil, bearer(jwtB)...); r.status != 403 && r.status != 401 {
				t.Fatalf("demoted JWT creates an admin: %d %s", r.status, r.body)
			}
			if r := s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Après"}, bearer(jwtB)...); r.status != 403 && r.status != 401 {
				t.Fatalf("demoted JWT creates a chantier: %d %s", r.status, r.body)
			}
			// Within a second the gateway refuses the old JWT outright.
			took := eventually(t, time.Second, "JWT issued before the demotion refused", func() bool {
				return s.gwDo("GET", "/api/v1/pointages", nil, bearer(jwtB)...).status == 401
			})
			t.Logf("old JWT refused %s after the demotion", took)

			// The write key narrows: no chantier, but a pointage of B's own.
			r = s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Clé"}, bearer(keyB)...)
			if r.status != 403 || problemTypeOf(t, r) != "permission-denied" {
				t.Fatalf("demoted key creates a chantier: %d %s", r.status, r.body)
			}
			r = s.gwDo("POST", "/api/v1/pointages", map[string]any{"chantier_id": json.Number(chantier), "user_id": json.Number(idB), "date": "2025-03-03", "heures": 8}, bearer(keyB)...)
			if r.status != 201 {
				t.Fatalf("demoted key records B's pointage: %d %s", r.status, r.body)
			}

			// B logs in again at once and gets a working ouvrier token.
			jwtB2 := s.login("b@example.com", "correct-horse-battery")
			if r := s.gwDo("GET", "/api/v1/pointages", nil, bearer(jwtB2)...); r.status != 200 {
				t.Fatalf("fresh ouvrier token: %d %s", r.status, r.body)
			}
			// ... while the token from before the demotion stays refused.
			if r := s.gwDo("GET", "/api/v1/pointages", nil, bearer(jwtB)...); r.status != 401 {
				t.Fatalf("old JWT after the new login: %d", r.status)
			}
			// Nobody raises their own role.
			r = s.gwDo("PATCH", "/api/v1/users/"+idB, map[string]any{"role": "admin"}, bearer(jwtB2)...)
			if r.status != 403 {
				t.Fatalf("B raises their own role: %d %s", r.status, r.body)
			}
			if r := s.gwDo("POST", "/api/v1/users", evil, bearer(jwtB2)...); r.status != 403 {
				t.Fatalf("ouvrier creates a user: %d %s", r.status, r.body)
			}

			// Deactivation: the fresh JWT and the key die within a second,
			// and B cannot log in.
			if r := s.gwDo("PATCH", "/api/v1/users/"+idB, map[string]any{"active": false}, adminA...); r.status != 200 {
				t.Fatalf("deactivate B: %d %s", r.status, r.body)
			}
			eventually(t, time.Second, "deactivated user's JWT and key refused", func() bool {
				return s.gwDo("GET", "/api/v1/pointages", nil, bearer(jwtB2)...).status == 401 &&
					s.gwDo("GET", "/api/v1/pointages", nil, bearer(keyB)...).status == 401
			})
			if r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "b@example.com", "password": "correct-horse-battery"}); r.status != 401 {
				t.Fatalf("deactivated user logs in: %d %s", r.status, r.body)
			}
			// Reactivated: logins and the key work again (with the ouvrier role).
			if r := s.gwDo("PATCH", "/api/v1/users/"+idB, map[string]any{"active": true}, adminA...); r.status != 200 {
				t.Fatalf("reactivate B: %d %s", r.status, r.body)
			}
			eventually(t, 2*time.Second, "reactivated key works", func() bool {
				return s.gwDo("GET", "/api/v1/pointages", nil, bearer(keyB)...).status == 200
			})
		})
	}
}

// TestPermissionMatrixE2E checks one rule per role through the gateway.
func TestPermissionMatrixE2E(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("root@example.com", "admin")
	s.createUser("chef@example.com", "conducteur")
	s.createUser("paul@example.com", "ouvrier")
	admin := bearer(s.login("root@example.com", "correct-horse-battery"))
	chef := bearer(s.login("chef@example.com", "correct-horse-battery"))
	paul := bearer(s.login("paul@example.com", "correct-horse-battery"))
	paulID := s.userIDOf(admin, "paul@example.com")

	mustID := func(r response, what string) string {
		t.Helper()
		if r.status != 201 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		return fmt.Sprint(r.json(t)["id"])
	}
	// The conducteur manages chantiers and affectations.
	mine := mustID(s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Assigné"}, chef...), "conducteur creates a chantier")
	other := mustID(s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Autre"}, chef...), "conducteur creates a chantier")
	mustID(s.gwDo("POST", "/api/v1/affectations", map[string]any{"chantier_id": json.Number(mine), "user_id": json.Number(paulID), "date_debut": "2025-01-01"}, chef...), "conducteur assigns")

	// The ouvrier reads their chantier only, records their pointage and a signalement.
	if r := s.gwDo("GET", "/api/v1/chantiers/"+mine, nil, paul...); r.status != 200 {
		t.Fatalf("ouvrier reads an assigned chantier: %d %s", r.status, r.body)
	}
	if r := s.gwDo("GET", "/api/v1/chantiers/"+other, nil, paul...); r.status != 404 {
		t.Fatalf("ouvrier reads another chantier: %d %s", r.status, r.body)
	}
	r := s.gwDo("GET", "/api/v1/chantiers", nil, paul...)
	if data := r.json(t)["data"].([]any); r.status != 200 || len(data) != 1 {
		t.Fatalf("ouvrier lists chantiers: %d %s", r.status, r.body)
	}
	pointage := mustID(s.gwDo("POST", "/api/v1/pointages", map[string]any{"chantier_id": json.Number(mine), "user_id": json.Number(paulID), "date": "2025-03-03", "heures": 8}, paul...), "ouvrier records a pointage")
	mustID(s.gwDo("POST", "/api/v1/signalements", map[string]any{"chantier_id": json.Number(mine), "titre": "Fuite"}, paul...), "ouvrier reports")
	for _, c := range []struct {
		what, method, path string
		body               any
	}{
		{"ouvrier creates a chantier", "POST", "/api/v1/chantiers", map[string]any{"nom": "Non"}},
		{"ouvrier validates their pointage", "PATCH", "/api/v1/pointages/" + pointage, map[string]any{"valide": true}},
		{"ouvrier reads stats", "GET", "/api/v1/stats", nil},
		{"ouvrier reports on another chantier", "POST", "/api/v1/signalements", map[string]any{"chantier_id": json.Number(other), "titre": "x"}},
	} {
		if r := s.gwDo(c.method, c.path, c.body, paul...); r.status != 403 {
			t.Errorf("%s: %d %s", c.what, r.status, r.body)
		}
	}
	// The conducteur validates; manages no user. The admin does.
	if r := s.gwDo("PATCH", "/api/v1/pointages/"+pointage, map[string]any{"valide": true}, chef...); r.status != 200 {
		t.Fatalf("conducteur validates: %d %s", r.status, r.body)
	}
	newUser := map[string]any{"email": "new@example.com", "password": "correct-horse-battery", "nom": "new", "role": "ouvrier"}
	if r := s.gwDo("POST", "/api/v1/users", newUser, chef...); r.status != 403 {
		t.Fatalf("conducteur creates a user: %d %s", r.status, r.body)
	}
	r = s.gwDo("POST", "/api/v1/users", newUser, admin...)
	newID := mustID(r, "admin creates a user")
	// A deleted user's token dies within a second.
	newJWT := bearer(s.login("new@example.com", "correct-horse-battery"))
	if r := s.gwDo("GET", "/api/v1/pointages", nil, newJWT...); r.status != 200 {
		t.Fatalf("new user's token: %d %s", r.status, r.body)
	}
	if r := s.gwDo("DELETE", "/api/v1/users/"+newID, nil, admin...); r.status != 204 {
		t.Fatalf("admin deletes a user: %d %s", r.status, r.body)
	}
	eventually(t, time.Second, "deleted user's token refused", func() bool {
		return s.gwDo("GET", "/api/v1/pointages", nil, newJWT...).status == 401
	})
	// The validated pointage is frozen for the ouvrier.
	if r := s.gwDo("PATCH", "/api/v1/pointages/"+pointage, map[string]any{"heures": 9}, paul...); r.status != 403 || problemTypeOf(t, r) != "permission-denied" {
		t.Fatalf("ouvrier changes a validated pointage: %d %s", r.status, r.body)
	}
}

// TestUserChangeAudited: a role change and a password change through
// PATCH /api/v1/users/{id} are audited with their changes, like domain
// writes; the password's value never reaches the trail, and the client
// never sees X-Hub-Changes.
func TestUserChangeAudited(t *testing.T) {
	s, _, _, _ := auditStack(t, backends[0])
	s.createUser("root@example.com", "admin")
	s.createUser("w@example.com", "ouvrier")
	admin := bearer(s.login("root@example.com", "correct-horse-battery"))
	id := s.userIDOf(admin, "w@example.com")
	for _, c := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"role": "conducteur"}, []string{`"before":{"role":"ouvrier"`, `"role":"conducteur"`}},
		{map[string]any{"password": "a-new-secret-pass"}, []string{`password_changed`}},
	} {
		r := s.gwDo("PATCH", "/api/v1/users/"+id, c.body, admin...)
		if r.status != 200 || r.header.Get("X-Hub-Changes") != "" {
			t.Fatalf("PATCH %v: %d (X-Hub-Changes %q) %s", c.body, r.status, r.header.Get("X-Hub-Changes"), r.body)
		}
		rid := r.header.Get("X-Request-Id")
		var changes string
		eventually(t, 20*time.Second, "record of the user PATCH shipped", func() bool {
			recs := s.auditRecords(admin, rid)
			if len(recs) != 1 {
				return false
			}
			b, _ := json.Marshal(recs[0]["changes"])
			changes = string(b)
			return true
		})
		for _, w := range c.want {
			if !strings.Contains(changes, w) {
				t.Errorf("changes of %v lack %s: %s", c.body, w, changes)
			}
		}
		if strings.Contains(changes, "a-new-secret-pass") || strings.Contains(changes, "$2a$") {
			t.Errorf("password in the trail: %s", changes)
		}
	}
}
