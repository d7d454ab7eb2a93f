package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/server"
)

// upstreamFixture is the real Hub Chantier handler on a loopback httptest
// server, with counters of the internal calls the resolver makes.
type upstreamFixture struct {
	srv         *httptest.Server
	auth        *auth.Service
	introspects atomic.Int64
	jwksFetches atomic.Int64
	user        auth.User
}

const testSecret = "0123456789abcdef0123456789abcdef-test"

func newUpstream(t *testing.T) *upstreamFixture {
	t.Helper()
	d := dbtest.SQLite(t)
	h, a, err := server.New(context.Background(), server.Config{GatewaySecret: []byte(testSecret), BcryptCost: bcrypt.MinCost}, d)
	if err != nil {
		t.Fatal(err)
	}
	f := &upstreamFixture{auth: a}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/internal/introspect":
			f.introspects.Add(1)
		case "/.well-known/jwks.json":
			f.jwksFetches.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.user, err = a.CreateUser(context.Background(), "alice@example.com", "correct-horse-battery", "Alice", "conducteur")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *upstreamFixture) resolver(t *testing.T) *Resolver {
	t.Helper()
	r := NewResolver(ResolverConfig{
		Upstream:         f.srv.URL,
		Secret:           testSecret,
		Issuer:           DefaultIssuer,
		Audience:         DefaultAudience,
		KeyCacheTTL:      5 * time.Minute,
		NegativeCacheTTL: 30 * time.Second,
		RevocationWait:   2 * time.Second,
		JWKSMinRefresh:   50 * time.Millisecond,
		UsageInterval:    50 * time.Millisecond,
	}, zaptest.NewLogger(t))
	r.Start()
	t.Cleanup(func() { _ = r.Destruct() })
	// Wait for the feed's first answer so the cache is trusted.
	deadline := time.Now().Add(5 * time.Second)
	for !r.feedHealthy(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("revocation feed never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

func (f *upstreamFixture) key(t *testing.T, req auth.CreateKeyRequest) auth.Created {
	t.Helper()
	c, err := f.auth.CreateAPIKey(context.Background(), f.user.Email, req)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResolverAPIKey(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	c := f.key(t, auth.CreateKeyRequest{Name: "erp", Scopes: []string{"read", "chantiers:write"}, IPWhitelist: []string{"10.0.0.0/8"}})

	id, err := r.APIKey(ctx, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if id.KeyID != c.ID || id.Method != "api_key" || id.Role != "conducteur" || strings.Join(id.Scopes, " ") != "read chantiers:write" || len(id.IPAllow) != 1 {
		t.Fatalf("identity %+v", id)
	}

	// Warm path: no further introspection.
	before := f.introspects.Load()
	for i := 0; i < 100; i++ {
		if _, err := r.APIKey(ctx, c.Key); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.introspects.Load() - before; n != 0 {
		t.Fatalf("warm path made %d introspection calls", n)
	}

	// A wrong secret for a known id, a malformed key, an unknown id.
	wrong := c.Key[:len(c.Key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(c.Key, "A")]
	if _, err := r.APIKey(ctx, wrong); !errors.Is(err, ErrUnknown) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := r.APIKey(ctx, "hbc_short"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
	if _, err := r.APIKey(ctx, "hbc_zzzzzzzzzzzz_"+strings.Repeat("Q", 43)); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestResolverRevocationWithinASecond(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	c := f.key(t, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
	if _, err := r.APIKey(ctx, c.Key); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.RevokeAPIKey(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		_, err := r.APIKey(ctx, c.Key)
		if errors.Is(err, ErrRevoked) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("revoked key still accepted after 1s (err=%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation seen after %s", time.Since(start))
}

func TestResolverRotationGrace(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	c := f.key(t, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
	if _, err := r.APIKey(ctx, c.Key); err != nil {
		t.Fatal(err)
	}
	rotated, err := f.auth.RotateAPIKey(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The new secret works at once (a mismatch refetches), the old one too.
	for _, k := range []string{rotated.Key, c.Key} {
		var err error
		deadline := time.Now().Add(2 * time.Second)
		for {
			if _, err = r.APIKey(ctx, k); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	// A second rotation drops the first secret.
	if _, err := f.auth.RotateAPIKey(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := r.APIKey(ctx, c.Key)
		if errors.Is(err, ErrUnknown) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("twice-rotated secret still accepted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResolverJWTAndSigningKeyRotation(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	tok, err := f.auth.IssueToken(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.JWT(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if id.Method != "jwt" || id.Role != "conducteur" || len(id.Scopes) == 0 {
		t.Fatalf("identity %+v", id)
	}
	fetches := f.jwksFetches.Load()
	for i := 0; i < 50; i++ {
		if _, err := r.JWT(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if f.jwksFetches.Load() != fetches {
		t.Fatal("warm JWT path fetched the JWKS")
	}

	// A new signing key: its tokens verify after one JWKS refresh; old tokens still verify.
	if err := f.auth.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // past JWKSMinRefresh
	tok2, err := f.auth.IssueToken(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.JWT(ctx, tok2.AccessToken); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := r.JWT(ctx, tok.AccessToken); err != nil {
		t.Fatalf("token of the old key: %v", err)
	}

	// Tampering and garbage.
	bad := tok.AccessToken[:len(tok.AccessToken)-2] + "xx"
	if _, err := r.JWT(ctx, bad); err == nil {
		t.Fatal("tampered token accepted")
	}
	for _, g := range []string{"", "a.b.c", "x", strings.Repeat("a", 10000)} {
		if _, err := r.JWT(ctx, g); err == nil {
			t.Fatalf("garbage %q accepted", g)
		}
	}
}

func TestResolverUserDeletionCutsTokensAndKeys(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	c := f.key(t, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
	tok, err := f.auth.IssueToken(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.APIKey(ctx, c.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := r.JWT(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.DeleteUser(ctx, f.user.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, kerr := r.APIKey(ctx, c.Key)
		_, jerr := r.JWT(ctx, tok.AccessToken)
		if kerr != nil && jerr != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleted user still accepted: key err=%v, jwt err=%v", kerr, jerr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestResolverUpstreamDown(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	c := f.key(t, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
	f.srv.Close()
	if _, err := r.APIKey(ctx, c.Key); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("upstream down, nothing cached: %v", err)
	}
}

func TestResolverReportsUsage(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	c := f.key(t, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}})
	if _, err := r.APIKey(ctx, c.Key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		keys, err := f.auth.ListAPIKeys(ctx, f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 1 && keys[0].LastUsedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("last_used_at never reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResolverRevocationsBeforeStart: a gateway that starts (or a resolver
// created by a reload) after a token was revoked, a client revoked or a user
// deleted must still refuse those JWTs while they have not expired. The
// revocation feed's first answer has to carry the recent events, not only
// the position to follow from.
func TestResolverRevocationsBeforeStart(t *testing.T) {
	f := newUpstream(t)
	ctx := context.Background()
	issue := func(sub, role, client string) string {
		t.Helper()
		tok, _, err := f.auth.IssueOAuthToken(ctx, auth.OAuthClaims{
			Subject: sub, Role: role, ClientID: client, Scope: "chantiers:read",
		}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	jtiOf := func(tok string) string {
		var mc jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &mc); err != nil {
			t.Fatal(err)
		}
		return mc["jti"].(string)
	}
	bob, err := f.auth.CreateUser(ctx, "bob@example.com", "correct-horse-battery", "Bob", "conducteur")
	if err != nil {
		t.Fatal(err)
	}
	alice := strconv.FormatInt(f.user.ID, 10)
	revokedJTI := issue(alice, f.user.Role, "hcc_a")
	revokedClient := issue(alice, f.user.Role, "hcc_gone")
	login, err := f.auth.IssueToken(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	kept := issue(alice, f.user.Role, "hcc_a")
	if err := f.auth.Publish(ctx, auth.KindToken, jtiOf(revokedJTI)); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.Publish(ctx, auth.KindClient, "hcc_gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}

	r := f.resolver(t) // starts after every revocation
	for _, c := range []struct{ name, tok string }{
		{"revoked jti", revokedJTI},
		{"token of a revoked client", revokedClient},
		{"login token of a deleted user", login.AccessToken},
	} {
		if _, err := r.JWT(ctx, c.tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: err = %v, want ErrRevoked", c.name, err)
		}
	}
	if _, err := r.JWT(ctx, kept); err != nil {
		t.Errorf("unrevoked sibling token refused: %v", err)
	}
}

// TestResolverForgetsExpiredKeyEntries: every well-formed key with an
// unknown id leaves a negative entry; without credentials anyone can send
// millions of them, so entries past their lifetime must leave the map, not
// only be ignored.
func TestResolverForgetsExpiredKeyEntries(t *testing.T) {
	f := newUpstream(t)
	// Not started (no feed): the clock below is the only one it reads.
	r := NewResolver(ResolverConfig{
		Upstream: f.srv.URL, Secret: testSecret,
		KeyCacheTTL: 5 * time.Minute, NegativeCacheTTL: 30 * time.Second,
	}, zaptest.NewLogger(t))
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	r.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	unknown := func(i int) string {
		return fmt.Sprintf("hbc_%012d_%s", i, strings.Repeat("a", 43))
	}
	for i := range 50 {
		if _, err := r.APIKey(ctx, unknown(i)); !errors.Is(err, ErrUnknown) {
			t.Fatalf("unknown key %d: %v", i, err)
		}
	}
	mu.Lock()
	now = now.Add(r.cfg.KeyCacheTTL + time.Second)
	mu.Unlock()
	if _, err := r.APIKey(ctx, unknown(999)); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown key: %v", err)
	}
	r.mu.RLock()
	n := len(r.keys)
	r.mu.RUnlock()
	if n > 1 {
		t.Fatalf("%d key entries kept, want only the fresh one", n)
	}
}
