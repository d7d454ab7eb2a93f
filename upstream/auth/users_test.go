package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func TestCreateUserHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ok := map[string]string{"email": "New@Example.test", "password": "long-enough", "nom": "Nouveau", "role": "ouvrier"}
		with := func(k, v string) map[string]string {
			m := map[string]string{}
			for a, b := range ok {
				m[a] = b
			}
			m[k] = v
			return m
		}
		tests := []struct {
			name  string
			role  string
			body  map[string]string
			code  int
			field string
		}{
			{"conducteur refused", RoleConducteur, ok, 403, ""},
			{"short password", RoleAdmin, with("password", "short"), 400, "password"},
			{"bad email", RoleAdmin, with("email", "not-an-email"), 400, "email"},
			{"bad role", RoleAdmin, with("role", "chef"), 400, "role"},
			{"no nom", RoleAdmin, with("nom", ""), 400, "nom"},
			{"created", RoleAdmin, ok, 201, ""},
			{"duplicate", RoleAdmin, with("email", "new@example.test"), 409, "email"},
		}
		for _, tc := range tests {
			r := e.call("POST", "/api/v1/users", tc.body, e.as(tc.role))
			expect(t, r, tc.code)
			if f := problemField(t, r); f != tc.field {
				t.Errorf("%s: field %q, want %q", tc.name, f, tc.field)
			}
			if tc.code == 201 && (strings.Contains(string(r.Body), "password") || !strings.Contains(string(r.Body), `"email":"new@example.test"`)) {
				t.Errorf("%s: body %s", tc.name, r.Body)
			}
		}
		if r := login(t, e, "new@example.test", "long-enough"); r.Code != 200 {
			t.Errorf("new user cannot log in: %s", r.Body)
		}
	})
}

func TestUpdateDeleteUserHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		admin := e.as(RoleAdmin)
		target := e.users[RoleOuvrier]
		path := fmt.Sprint("/api/v1/users/", target.ID)
		expect(t, e.call("PATCH", path, map[string]string{"nom": "X"}, e.as(RoleConducteur)), 403)
		r := e.call("PATCH", path, map[string]string{"nom": "Renommé", "password": "new-password"}, admin)
		expect(t, r, 200)
		var u User
		r.json(t, &u)
		if u.Nom != "Renommé" || u.Version != 2 {
			t.Errorf("patched %+v", u)
		}
		expect(t, login(t, e, target.Email, "new-password"), 200)
		expect(t, e.call("PATCH", path, map[string]string{"role": "boss"}, admin), 400)
		expect(t, e.call("PATCH", path, map[string]string{"email": e.users[RoleAdmin].Email}, admin), 409)
		expect(t, e.call("PATCH", "/api/v1/users/999999", map[string]string{"nom": "X"}, admin), 404)
		self := fmt.Sprint("/api/v1/users/", e.users[RoleAdmin].ID)
		expect(t, e.call("PATCH", self, map[string]string{"role": "ouvrier"}, admin), 409)
		expect(t, e.call("DELETE", self, nil, admin), 409)

		k, err := e.s.CreateAPIKey(context.Background(), target.Email, CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		last, _ := e.s.LastSeq(context.Background())
		expect(t, e.call("DELETE", path, nil, e.as(RoleConducteur)), 403)
		expect(t, e.call("DELETE", path, nil, admin), 204)
		expect(t, e.call("DELETE", path, nil, admin), 404)
		expect(t, login(t, e, target.Email, "new-password"), 401)
		events, _, _ := e.s.Events(context.Background(), last)
		got := []string{}
		for _, ev := range events {
			got = append(got, ev.Kind+":"+ev.ID)
		}
		if want := fmt.Sprintf("[user:%d api_key:%s]", target.ID, k.ID); fmt.Sprint(got) != want {
			t.Errorf("events %v, want %s", got, want)
		}
		if keys, _ := e.s.ListAPIKeys(context.Background(), target.ID); len(keys) != 0 {
			t.Errorf("keys of a deleted user remain: %+v", keys)
		}
	})
}

func TestGrantable(t *testing.T) {
	tests := []struct {
		role, scope string
		want        bool
	}{
		{RoleAdmin, "admin", true},
		{RoleAdmin, "users:*", true},
		{RoleConducteur, "write", true},
		{RoleConducteur, "users:read", true},
		{RoleConducteur, "users:*", false},
		{RoleConducteur, "admin", false},
		{RoleOuvrier, "read", true},
		{RoleOuvrier, "stats:read", true},
		{RoleOuvrier, "signalements:*", true},
		{RoleOuvrier, "documents:write", false},
		{RoleOuvrier, "write", false},
		{"", "read", false},
	}
	for _, tc := range tests {
		if got := Grantable(tc.role, tc.scope); got != tc.want {
			t.Errorf("Grantable(%q, %q) = %v", tc.role, tc.scope, got)
		}
	}
}
