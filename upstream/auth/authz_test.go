package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// problemType returns the slug of a problem body's type.
func problemType(t *testing.T, r resp) string {
	t.Helper()
	var p struct {
		Type string `json:"type"`
	}
	r.json(t, &p)
	i := strings.LastIndex(p.Type, ":")
	return p.Type[i+1:]
}

// TestPrincipalsUseCurrentRole replays the finding at the upstream: the
// assertion (from a JWT issued while the user was admin) still says admin,
// but the user is ouvrier now: user management is refused. A subject that
// names no user, or a deactivated one, is 401.
func TestPrincipalsUseCurrentRole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		b, err := e.s.CreateUser(ctx, "b@example.test", "password-b", "B", RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		stale := asUser(b) // role admin, scopes "read write admin"
		newUser := map[string]string{"email": "evil@example.test", "password": "long-enough", "nom": "E", "role": "admin"}
		expect(t, e.call("PATCH", fmt.Sprint("/api/v1/users/", b.ID), map[string]string{"role": RoleOuvrier}, e.as(RoleAdmin)), 200)

		r := e.call("POST", "/api/v1/users", newUser, stale)
		expect(t, r, 403)
		if got := problemType(t, r); got != "permission-denied" {
			t.Errorf("type %q", got)
		}
		// Nobody raises their own role: the demoted user cannot PATCH it back.
		r = e.call("PATCH", fmt.Sprint("/api/v1/users/", b.ID), map[string]string{"role": RoleAdmin}, stale)
		expect(t, r, 403)
		c := asUser(e.users[RoleConducteur])
		expect(t, e.call("PATCH", fmt.Sprint("/api/v1/users/", e.users[RoleConducteur].ID), map[string]string{"role": RoleAdmin}, c), 403)
		if u, _ := e.s.UserByID(ctx, b.ID); u.Role != RoleOuvrier {
			t.Fatalf("role %q after self-promotion attempt", u.Role)
		}

		ghost := &assertion.Claims{Subject: "999999", Role: RoleAdmin, Method: assertion.MethodJWT, Scopes: []string{"read", "write", "admin"}}
		r = e.call("GET", "/api/auth/api-keys", nil, ghost)
		expect(t, r, 401)
		if got := problemType(t, r); got != TypeUnknownUser || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("unknown subject: type %q, WWW-Authenticate %q", got, r.Header.Get("WWW-Authenticate"))
		}
		expect(t, e.call("PATCH", fmt.Sprint("/api/v1/users/", b.ID), map[string]any{"active": false}, e.as(RoleAdmin)), 200)
		r = e.call("GET", "/api/auth/api-keys", nil, stale)
		expect(t, r, 401)
		if got := problemType(t, r); got != TypeUserInactive {
			t.Errorf("deactivated: type %q", got)
		}
	})
}

// TestRoleChangeCutsCredentials checks the revocation side of a role change
// and of a deactivation: a "user" event dated exactly at the stored
// tokens_valid_after, api_key events for the user's keys, and none for a
// change that cuts nothing (a rename, a reactivation).
func TestRoleChangeCutsCredentials(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		target := e.users[RoleConducteur]
		k := createKey(t, e, asUser(target), map[string]any{"name": "k", "scopes": []string{"write"}})
		path := fmt.Sprint("/api/v1/users/", target.ID)
		e.clock.Add(250 * time.Millisecond)
		for _, tc := range []struct {
			name  string
			patch map[string]any
			cut   bool
		}{
			{"rename", map[string]any{"nom": "Autre"}, false},
			{"demotion", map[string]any{"role": RoleOuvrier}, true},
			{"same role", map[string]any{"role": RoleOuvrier}, false},
			{"deactivation", map[string]any{"active": false}, true},
			{"reactivation", map[string]any{"active": true}, false},
		} {
			last, _ := e.s.LastSeq(ctx)
			expect(t, e.call("PATCH", path, tc.patch, e.as(RoleAdmin)), 200)
			events, _, _ := e.s.Events(ctx, last)
			if !tc.cut {
				if len(events) != 0 {
					t.Errorf("%s: events %+v", tc.name, events)
				}
				continue
			}
			if len(events) != 2 || events[0].Kind != KindUser || events[0].ID != strconv.FormatInt(target.ID, 10) ||
				events[1].Kind != KindAPIKey || events[1].ID != k.ID {
				t.Fatalf("%s: events %+v", tc.name, events)
			}
			var cut int64
			if err := d.QueryRow(ctx, `SELECT tokens_valid_after FROM users WHERE id = ?`, target.ID).Scan(&cut); err != nil {
				t.Fatal(err)
			}
			if !events[0].At.Equal(db.FromMicros(cut)) || !events[0].At.Equal(e.clock.Now()) {
				t.Errorf("%s: event at %v, tokens_valid_after %v, now %v", tc.name, events[0].At, db.FromMicros(cut), e.clock.Now())
			}
		}
	})
}

// TestTokenAfterCut is the one-second granularity of JWT iat: a token
// issued in the second of a cut, before it, has iat ≤ cut (refused by the
// gateways); a login right after the cut, in the same second, waits for
// the next second, so its token has iat > cut and works.
func TestTokenAfterCut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.users[RoleConducteur]
		iatOf := func(tok Token) time.Time {
			var c jwt.RegisteredClaims
			if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &c); err != nil {
				t.Fatal(err)
			}
			return c.IssuedAt.Time
		}
		e.clock.Add(100 * time.Millisecond)
		before, err := e.s.IssueToken(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(300 * time.Millisecond)
		if _, err := e.s.UpdateUser(ctx, u.ID, UserPatch{Role: ptr(RoleOuvrier)}); err != nil {
			t.Fatal(err)
		}
		cut := e.clock.Now()
		e.clock.Add(100 * time.Millisecond) // the user logs in again at once
		r := login(t, e, u.Email, "password-conducteur")
		expect(t, r, 200)
		var after Token
		r.json(t, &after)
		// The gateway's rule (modules/hub tokenRevoked): iat ≤ cut is dead.
		if b := iatOf(before); b.After(cut) {
			t.Errorf("token issued before the cut has iat %v > cut %v: it would survive", b, cut)
		}
		if a := iatOf(after); !a.After(cut) {
			t.Errorf("token issued after the cut has iat %v ≤ cut %v: it would be born dead", a, cut)
		}
		if now := e.clock.Now(); now.Sub(cut) > time.Second {
			t.Errorf("issuance waited %v", now.Sub(cut))
		}
		// Away from a cut, issuance does not wait.
		e.clock.Add(5 * time.Second)
		start := e.clock.Now()
		if _, err := e.s.IssueToken(ctx, u); err != nil || !e.clock.Now().Equal(start) {
			t.Errorf("issuance away from a cut: err %v, waited %v", err, e.clock.Now().Sub(start))
		}
	})
}

// TestDeactivation: no login, keys introspect as revoked, no OAuth2 token
// issued; reactivation restores them.
func TestDeactivation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.users[RoleConducteur]
		k := createKey(t, e, asUser(u), map[string]any{"name": "k", "scopes": []string{"read"}})
		path := fmt.Sprint("/api/v1/users/", u.ID)
		expect(t, e.call("PATCH", fmt.Sprint("/api/v1/users/", e.users[RoleAdmin].ID), map[string]any{"active": false}, e.as(RoleAdmin)), 409)
		expect(t, e.call("PATCH", path, map[string]any{"active": false}, e.as(RoleAdmin)), 200)
		expect(t, login(t, e, u.Email, "password-conducteur"), 401)
		in, err := e.s.Introspect(ctx, k.ID)
		if err != nil || in.Active || in.Status != StatusRevoked || len(in.Secrets) != 0 {
			t.Errorf("introspection of a deactivated owner's key: %+v, %v", in, err)
		}
		if _, _, err := e.s.IssueOAuthToken(ctx, OAuthClaims{Subject: strconv.FormatInt(u.ID, 10), ClientID: "c", Scope: "read"}, time.Minute); err == nil {
			t.Error("an OAuth2 token was issued to a deactivated user")
		}
		expect(t, e.call("PATCH", path, map[string]any{"active": true}, e.as(RoleAdmin)), 200)
		expect(t, login(t, e, u.Email, "password-conducteur"), 200)
		if in, _ := e.s.Introspect(ctx, k.ID); !in.Active {
			t.Errorf("reactivated owner's key: %+v", in)
		}
	})
}

// decodeChanges reads an X-Hub-Changes header.
func decodeChanges(t *testing.T, r resp) map[string]map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(r.Header.Get(auditchain.ChangesHeader))
	if err != nil {
		t.Fatalf("changes header %q: %v", r.Header.Get(auditchain.ChangesHeader), err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("changes %s: %v", raw, err)
	}
	return m
}

// TestUserChangesHeader: user writes report before/after like domain
// writes; a password change shows as password_changed, never its value or
// hash.
func TestUserChangesHeader(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		u := e.users[RoleOuvrier]
		path := fmt.Sprint("/api/v1/users/", u.ID)
		r := e.call("PATCH", path, map[string]any{"role": RoleConducteur}, e.as(RoleAdmin))
		expect(t, r, 200)
		c := decodeChanges(t, r)
		if c["before"]["role"] != RoleOuvrier || c["after"]["role"] != RoleConducteur || c["after"]["version"] != float64(2) {
			t.Errorf("role change: %+v", c)
		}
		if _, ok := c["after"]["email"]; ok {
			t.Errorf("unchanged member reported: %+v", c)
		}
		r = e.call("PATCH", path, map[string]any{"password": "another-password"}, e.as(RoleAdmin))
		expect(t, r, 200)
		raw, _ := base64.RawURLEncoding.DecodeString(r.Header.Get(auditchain.ChangesHeader))
		if !strings.Contains(string(raw), "password_changed") || strings.Contains(string(raw), "another-password") ||
			strings.Contains(string(raw), "$2a$") || strings.Contains(string(raw), "password_hash") {
			t.Errorf("password change reported as %s", raw)
		}
		r = e.call("POST", "/api/v1/users", map[string]string{"email": "n@example.test", "password": "long-enough", "nom": "N", "role": "ouvrier"}, e.as(RoleAdmin))
		expect(t, r, 201)
		if c := decodeChanges(t, r); c["before"] != nil || c["after"]["email"] != "n@example.test" || strings.Contains(fmt.Sprint(c), "long-enough") {
			t.Errorf("creation: %+v", c)
		}
		r = e.call("DELETE", path, nil, e.as(RoleAdmin))
		expect(t, r, 204)
		if c := decodeChanges(t, r); c["after"] != nil || c["before"]["email"] != u.Email {
			t.Errorf("deletion: %+v", c)
		}
	})
}

// TestAuthenticateComparesOnce guards the timing oracle: an unknown email,
// a wrong password, a deactivated user and a success all make exactly one
// password comparison (the unknown email against the dummy hash).
func TestAuthenticateComparesOnce(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	ctx := context.Background()
	var n atomic.Int32
	var hashes []string
	e.s.compare = func(hash, pw []byte) error {
		n.Add(1)
		hashes = append(hashes, string(hash))
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	inactive, err := e.s.CreateUser(ctx, "off@example.test", "password-off", "Off", RoleOuvrier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UpdateUser(ctx, inactive.ID, UserPatch{Active: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, password string
		ok                    bool
	}{
		{"unknown email", "nobody@example.test", "password-x", false},
		{"wrong password", "admin@example.test", "wrong-password", false},
		{"deactivated", "off@example.test", "password-off", false},
		{"success", "admin@example.test", "password-admin", true},
	} {
		n.Store(0)
		hashes = nil
		_, err := e.s.Authenticate(ctx, tc.email, tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("%s: %d password comparisons, want exactly 1", tc.name, got)
		}
		if tc.name == "unknown email" && (len(hashes) != 1 || hashes[0] != string(e.s.dummyHash())) {
			t.Errorf("unknown email not compared against the dummy hash")
		}
	}
}

// BenchmarkAccount measures the per-request principal lookup (one primary
// key read of users on SQLite).
func BenchmarkAccount(b *testing.B) {
	d := dbtest.SQLite(b)
	s, err := New(context.Background(), d, Options{GatewaySecret: testSecret, BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	u, err := s.CreateUser(context.Background(), "bench@example.test", "password-bench", "", RoleOuvrier)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Account(context.Background(), u.ID); err != nil {
			b.Fatal(err)
		}
	}
}
