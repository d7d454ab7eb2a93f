package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// problemField returns the field named by a validation problem.
func problemField(t *testing.T, r resp) string {
	t.Helper()
	var p struct {
		Errors []map[string]string `json:"errors"`
	}
	r.json(t, &p)
	if len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0]["field"]
}

func createKey(t *testing.T, e *env, c *assertion.Claims, body map[string]any) Created {
	t.Helper()
	r := e.call("POST", "/api/auth/api-keys", body, c)
	expect(t, r, 201)
	var k Created
	r.json(t, &k)
	return k
}

func TestAPIKeyLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		me := e.as(RoleConducteur)
		k := createKey(t, e, me, map[string]any{"name": "erp", "description": "ERP sync",
			"scopes": []string{"read", "chantiers:*", "read"}, "ip_whitelist": []string{"10.1.2.3/8", "2001:db8::1"}})
		id, secret, err := apikey.Parse(k.Key)
		if err != nil || id != k.ID {
			t.Fatalf("key %q id %q: %v", k.Key, k.ID, err)
		}
		if k.Status != StatusActive || k.Name != "erp" || k.Description != "ERP sync" ||
			fmt.Sprint(k.Scopes) != "[read chantiers:*]" || fmt.Sprint(k.IPWhitelist) != "[10.0.0.0/8 2001:db8::1]" {
			t.Errorf("created %+v", k)
		}
		if got := k.ExpiresAt.Sub(e.clock.Now()); got != 90*24*time.Hour {
			t.Errorf("default expiry %v", got)
		}

		// The list never shows the secret or its hash.
		r := e.call("GET", "/api/auth/api-keys", nil, me)
		expect(t, r, 200)
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), apikey.Hash(secret)) {
			t.Fatal("list leaks the secret")
		}
		var list struct{ Data []KeyInfo }
		r.json(t, &list)
		if len(list.Data) != 1 || list.Data[0].ID != k.ID || list.Data[0].LastUsedAt != nil {
			t.Fatalf("list %s", r.Body)
		}
		// Another user sees nothing and cannot touch the key.
		r = e.call("GET", "/api/auth/api-keys", nil, e.as(RoleOuvrier))
		r.json(t, &list)
		if len(list.Data) != 0 {
			t.Errorf("ouvrier sees %s", r.Body)
		}
		expect(t, e.call("DELETE", "/api/auth/api-keys/"+k.ID, nil, e.as(RoleOuvrier)), 404)
		expect(t, e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, e.as(RoleOuvrier)), 404)

		// Rotation: new secret, same id, old secret valid for the grace period.
		r = e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, me)
		expect(t, r, 200)
		var rot Created
		r.json(t, &rot)
		id2, secret2, _ := apikey.Parse(rot.Key)
		if id2 != k.ID || secret2 == secret || rot.GraceUntil == nil || rot.GraceUntil.Sub(e.clock.Now()) != 7*24*time.Hour {
			t.Fatalf("rotated %+v", rot)
		}
		in := introspect(t, e, k.ID)
		if len(in.Secrets) != 2 || in.Secrets[0].Hash != apikey.Hash(secret2) || in.Secrets[1].Hash != apikey.Hash(secret) {
			t.Fatalf("after rotation %+v", in)
		}
		// A second rotation drops the first secret.
		r = e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, me)
		expect(t, r, 200)
		r.json(t, &rot)
		_, secret3, _ := apikey.Parse(rot.Key)
		in = introspect(t, e, k.ID)
		if len(in.Secrets) != 2 || in.Secrets[0].Hash != apikey.Hash(secret3) || in.Secrets[1].Hash != apikey.Hash(secret2) {
			t.Fatalf("after second rotation %+v", in)
		}
		// After the grace period only the current secret remains.
		e.clock.Add(7*24*time.Hour + time.Second)
		if in = introspect(t, e, k.ID); len(in.Secrets) != 1 {
			t.Fatalf("after grace %+v", in)
		}

		expect(t, e.call("DELETE", "/api/auth/api-keys/"+k.ID, nil, me), 204)
		expect(t, e.call("DELETE", "/api/auth/api-keys/"+k.ID, nil, me), 204) // idempotent
		if in = introspect(t, e, k.ID); in.Status != StatusRevoked || in.Active || len(in.Secrets) != 0 {
			t.Fatalf("after revoke %+v", in)
		}
		expect(t, e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, me), 409)
		r = e.call("GET", "/api/auth/api-keys", nil, me)
		r.json(t, &list)
		if list.Data[0].Status != StatusRevoked || list.Data[0].RevokedAt == nil {
			t.Errorf("listed %+v", list.Data[0])
		}
	})
}

func TestAPIKeyStatus(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	me := e.as(RoleOuvrier)
	createKey(t, e, me, map[string]any{"name": "short", "scopes": []string{"read"}, "expires_in_days": 10})
	tests := []struct {
		advance time.Duration
		want    string
	}{
		{0, StatusActive},
		{3 * 24 * time.Hour, StatusExpiringSoon},
		{7 * 24 * time.Hour, StatusExpired},
	}
	for _, tc := range tests {
		e.clock.Add(tc.advance)
		keys, err := e.s.ListAPIKeys(context.Background(), e.users[RoleOuvrier].ID)
		if err != nil || len(keys) != 1 || keys[0].Status != tc.want {
			t.Errorf("after +%v: %+v %v, want %s", tc.advance, keys, err, tc.want)
		}
	}
}

func TestAPIKeyLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		me := e.as(RoleOuvrier)
		var first Created
		for i := range MaxActiveKeys {
			k := createKey(t, e, me, map[string]any{"name": fmt.Sprint("k", i), "scopes": []string{"read"}})
			if i == 0 {
				first = k
			}
		}
		r := e.call("POST", "/api/auth/api-keys", map[string]any{"name": "eleventh", "scopes": []string{"read"}}, me)
		expect(t, r, 409)
		if !strings.Contains(string(r.Body), "at most 10 active API keys") {
			t.Errorf("unclear message: %s", r.Body)
		}
		// Revoking one frees a slot.
		expect(t, e.call("DELETE", "/api/auth/api-keys/"+first.ID, nil, me), 204)
		createKey(t, e, me, map[string]any{"name": "eleventh", "scopes": []string{"read"}})
	})
}

func TestAPIKeyValidation(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	tests := []struct {
		name  string
		role  string
		body  map[string]any
		code  int
		field string
	}{
		{"ok resource scopes", RoleOuvrier, map[string]any{"name": "a", "scopes": []string{"pointages:*", "chantiers:read"}}, 201, ""},
		{"ouvrier write", RoleOuvrier, map[string]any{"name": "a", "scopes": []string{"write"}}, 403, "scopes"},
		{"ouvrier chantiers:write", RoleOuvrier, map[string]any{"name": "a", "scopes": []string{"chantiers:write"}}, 403, "scopes"},
		{"ouvrier chantiers:*", RoleOuvrier, map[string]any{"name": "a", "scopes": []string{"chantiers:*"}}, 403, "scopes"},
		{"conducteur admin", RoleConducteur, map[string]any{"name": "a", "scopes": []string{"admin"}}, 403, "scopes"},
		{"conducteur users:write", RoleConducteur, map[string]any{"name": "a", "scopes": []string{"users:write"}}, 403, "scopes"},
		{"conducteur write", RoleConducteur, map[string]any{"name": "a", "scopes": []string{"write", "planning:*"}}, 201, ""},
		{"admin admin", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"admin"}}, 201, ""},
		{"unknown scope", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"delete"}}, 400, "scopes"},
		{"unknown resource", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"secrets:read"}}, 400, "scopes"},
		{"no scopes", RoleAdmin, map[string]any{"name": "a"}, 400, "scopes"},
		{"no name", RoleAdmin, map[string]any{"scopes": []string{"read"}}, 400, "name"},
		{"expiry too long", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "expires_in_days": 366}, 400, "expires_in_days"},
		{"expiry negative", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "expires_in_days": -1}, 400, "expires_in_days"},
		{"expiry type", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "expires_in_days": "soon"}, 400, "expires_in_days"},
		{"ip v4", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "ip_whitelist": []string{"192.0.2.7", "198.51.100.0/24"}}, 201, ""},
		{"ip v6", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "ip_whitelist": []string{"2001:db8::/32", "::1"}}, 201, ""},
		{"ip garbage", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "ip_whitelist": []string{"10.0.0"}}, 400, "ip_whitelist"},
		{"cidr bits", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "ip_whitelist": []string{"10.0.0.0/33"}}, 400, "ip_whitelist"},
		{"hostname", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "ip_whitelist": []string{"example.com"}}, 400, "ip_whitelist"},
		{"rate limit by admin", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "rate_limit": "100/hour"}, 201, ""},
		{"rate limit by user", RoleConducteur, map[string]any{"name": "a", "scopes": []string{"read"}, "rate_limit": "100/hour"}, 403, ""},
		{"rate limit unit", RoleAdmin, map[string]any{"name": "a", "scopes": []string{"read"}, "rate_limit": "100/week"}, 400, "rate_limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", "/api/auth/api-keys", tc.body, e.as(tc.role))
			expect(t, r, tc.code)
			if tc.field != "" {
				if f := problemField(t, r); f != tc.field {
					t.Errorf("problem names field %q, want %q: %s", f, tc.field, r.Body)
				}
			}
		})
	}
}

func TestAPIKeyCallerMethods(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	k := createKey(t, e, e.as(RoleConducteur), map[string]any{"name": "a", "scopes": []string{"read"}})
	viaKey := e.as(RoleConducteur)
	viaKey.Method, viaKey.KeyID, viaKey.Scopes = assertion.MethodAPIKey, k.ID, []string{"read"}
	tests := []struct {
		name   string
		method string
		path   string
		c      *assertion.Claims
		code   int
	}{
		{"anonymous create", "POST", "/api/auth/api-keys", nil, 401},
		{"key creates key", "POST", "/api/auth/api-keys", viaKey, 403},
		{"key rotates", "POST", "/api/auth/api-keys/" + k.ID + "/rotate", viaKey, 403},
		{"key lists", "GET", "/api/auth/api-keys", viaKey, 200},
		{"non-admin admin list", "GET", "/api/v1/admin/api-keys", e.as(RoleConducteur), 403},
		{"key revokes itself", "DELETE", "/api/auth/api-keys/" + k.ID, viaKey, 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.method, tc.path, map[string]any{"name": "b", "scopes": []string{"read"}}, tc.c)
			if tc.method != "POST" {
				r = e.call(tc.method, tc.path, nil, tc.c)
			}
			expect(t, r, tc.code)
		})
	}
}

func TestAdminAPIKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		admin := e.as(RoleAdmin)
		ouvrier := e.users[RoleOuvrier]
		r := e.call("POST", "/api/v1/admin/api-keys", map[string]any{"user_id": ouvrier.ID, "name": "pointeuse",
			"scopes": []string{"pointages:write"}, "rate_limit": "10/minute"}, admin)
		expect(t, r, 201)
		var k Created
		r.json(t, &k)
		if k.UserID != ouvrier.ID || k.RateLimit != "10/minute" {
			t.Fatalf("created %+v", k)
		}
		tests := []struct {
			name  string
			body  map[string]any
			code  int
			field string
		}{
			{"beyond owner role", map[string]any{"user_id": ouvrier.ID, "name": "x", "scopes": []string{"write"}}, 403, "scopes"},
			{"missing user", map[string]any{"name": "x", "scopes": []string{"read"}}, 400, "user_id"},
			{"unknown user", map[string]any{"user_id": 999999, "name": "x", "scopes": []string{"read"}}, 400, "user_id"},
			{"bad rate", map[string]any{"user_id": ouvrier.ID, "name": "x", "scopes": []string{"read"}, "rate_limit": "0/hour"}, 400, "rate_limit"},
			{"string id", map[string]any{"user_id": fmt.Sprint(ouvrier.ID), "name": "x", "scopes": []string{"read"}}, 201, ""},
		}
		for _, tc := range tests {
			r := e.call("POST", "/api/v1/admin/api-keys", tc.body, admin)
			expect(t, r, tc.code)
			if f := problemField(t, r); tc.field != "" && f != tc.field {
				t.Errorf("%s: field %q: %s", tc.name, f, r.Body)
			}
		}
		createKey(t, e, e.as(RoleConducteur), map[string]any{"name": "c", "scopes": []string{"read"}})
		var list struct{ Data []KeyInfo }
		e.call("GET", "/api/v1/admin/api-keys", nil, admin).json(t, &list)
		if len(list.Data) != 3 {
			t.Errorf("all keys: %d", len(list.Data))
		}
		e.call("GET", fmt.Sprint("/api/v1/admin/api-keys?user_id=", ouvrier.ID), nil, admin).json(t, &list)
		if len(list.Data) != 2 {
			t.Errorf("ouvrier keys: %d", len(list.Data))
		}
		expect(t, e.call("GET", "/api/v1/admin/api-keys?user_id=x", nil, admin), 400)
		expect(t, e.call("DELETE", "/api/v1/admin/api-keys/"+k.ID, nil, admin), 204)
		expect(t, e.call("DELETE", "/api/v1/admin/api-keys/zzzzzzzzzzzz", nil, admin), 404)
	})
}

func TestAPIKeyLimitConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		var wg sync.WaitGroup
		results := make(chan error, 2*MaxActiveKeys)
		for i := range 2 * MaxActiveKeys {
			wg.Go(func() {
				_, err := e.s.CreateAPIKey(context.Background(), e.users[RoleOuvrier].Email,
					CreateKeyRequest{Name: fmt.Sprint("k", i), Scopes: []string{"read"}})
				results <- err
			})
		}
		wg.Wait()
		close(results)
		ok, limited := 0, 0
		for err := range results {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrTooManyKeys):
				limited++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != MaxActiveKeys || limited != MaxActiveKeys {
			t.Errorf("%d created, %d refused; want %d each", ok, limited, MaxActiveKeys)
		}
	})
}
