package server

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestRoleFromDatabase checks the assembly: whatever role the gateway's
// assertion carries (a stale JWT's, or a forged one), every upstream route
// (domain, users, admin endpoints) acts on the user's stored role, and a
// subject that names no user is 401.
func TestRoleFromDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		secret := bytes.Repeat([]byte("s"), MinSecretLen)
		h, a, err := New(context.Background(), Config{GatewaySecret: secret, BcryptCost: bcrypt.MinCost}, d)
		if err != nil {
			t.Fatal(err)
		}
		u, err := a.CreateUser(context.Background(), "o@example.test", "password-o", "O", "ouvrier")
		if err != nil {
			t.Fatal(err)
		}
		call := func(method, path, body, sub string) int {
			c := assertion.Claims{Subject: sub, Role: "admin", Method: assertion.MethodJWT,
				Scopes: []string{"read", "write", "admin"}, HTTPMethod: method}
			tok, err := assertion.Sign(secret, c, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(method, path, bytes.NewBufferString(body))
			r.Header.Set(assertion.Header, tok)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 400 && w.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s: %d without problem+json", method, path, w.Code)
			}
			return w.Code
		}
		me := strconv.FormatInt(u.ID, 10)
		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/api/v1/chantiers", `{"nom":"C"}`, 403},
			{"POST", "/api/v1/users", `{"email":"x@example.test","password":"long-enough","nom":"X","role":"admin"}`, 403},
			{"PATCH", "/api/v1/users/" + me, `{"role":"admin"}`, 403},
			{"GET", "/api/v1/admin/api-keys", "", 403},
			{"GET", "/api/v1/stats", "", 403},
			{"GET", "/api/v1/pointages", "", 200},
		} {
			if got := call(tc.method, tc.path, tc.body, me); got != tc.want {
				t.Errorf("%s %s with a stale admin role: %d, want %d", tc.method, tc.path, got, tc.want)
			}
		}
		if got := call("GET", "/api/v1/pointages", "", "424242"); got != 401 {
			t.Errorf("unknown subject: %d, want 401", got)
		}
	})
}
