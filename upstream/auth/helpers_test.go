package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable test clock.
type clock = testutil.Clock

// env is a Service behind the assertion guard, as the gateway sees it.
type env struct {
	t     *testing.T
	d     *db.DB
	s     *Service
	clock *clock
	h     http.Handler
	users map[string]User // by role
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	c := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	// Sleep advances the test clock: issuance after a credential cut waits
	// for the next second without waiting for real.
	sleep := func(_ context.Context, d time.Duration) error { c.Add(d); return nil }
	s, err := New(context.Background(), d, Options{GatewaySecret: testSecret, Now: c.Now, BcryptCost: bcrypt.MinCost, Sleep: sleep})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	e := &env{t: t, d: d, s: s, clock: c, h: httpx.RequireAssertion(testSecret, c.Now, s.Principals(mux)), users: map[string]User{}}
	for _, role := range []string{RoleAdmin, RoleConducteur, RoleOuvrier} {
		u, err := s.CreateUser(context.Background(), role+"@example.test", "password-"+role, "", role)
		if err != nil {
			t.Fatal(err)
		}
		e.users[role] = u
	}
	return e
}

// as returns the claims of a JWT session of the user with that role.
func (e *env) as(role string) *assertion.Claims {
	return asUser(e.users[role])
}

// asUser returns JWT claims for u, with the scopes of a login token.
func asUser(u User) *assertion.Claims {
	return &assertion.Claims{Subject: strconv.FormatInt(u.ID, 10), Role: u.Role, Method: assertion.MethodJWT,
		Scopes: strings.Fields(RoleScopes[u.Role])}
}

type resp struct {
	Code   int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// call sends a request with an assertion for c (anonymous when nil). A
// string body is sent as is; anything else is JSON-encoded.
func (e *env) call(method, path string, body any, c *assertion.Claims) resp {
	e.t.Helper()
	return e.callHeaders(method, path, body, c, nil)
}

func (e *env) callHeaders(method, path string, body any, c *assertion.Claims, h map[string]string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	claims := assertion.Claims{Method: assertion.MethodAnonymous}
	if c != nil {
		claims = *c
	}
	claims.HTTPMethod = method
	sig, err := assertion.Sign(testSecret, claims, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(assertion.Header, sig)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// internal calls a gateway-only endpoint with the gateway secret.
func (e *env) internal(method, path string, body any) resp {
	e.t.Helper()
	return e.callHeaders(method, path, body, nil, map[string]string{"Authorization": "Bearer " + string(testSecret)})
}

func expect(t *testing.T, r resp, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("status %d, want %d: %s", r.Code, code, r.Body)
	}
}
