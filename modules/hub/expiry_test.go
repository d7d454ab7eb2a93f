package hub

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/server"
)

// testClock is a settable clock shared by a resolver and the upstream.
type testClock = testutil.Clock

// clockedFixture is the real upstream and a resolver (not started: no
// feed, no usage reporter) that both read clk.
type clockedFixture struct {
	clk  *testClock
	auth *auth.Service
	user auth.User
	r    *Resolver
}

func newClockedFixture(t *testing.T, keyCacheTTL time.Duration) *clockedFixture {
	t.Helper()
	clk := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	h, a, err := server.New(context.Background(), server.Config{GatewaySecret: []byte(testSecret), BcryptCost: bcrypt.MinCost, Now: clk.Now}, dbtest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := a.CreateUser(context.Background(), "alice@example.com", "correct-horse-battery", "Alice", "conducteur")
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(ResolverConfig{
		Upstream: srv.URL, Secret: testSecret, Issuer: DefaultIssuer, Audience: DefaultAudience,
		KeyCacheTTL: keyCacheTTL, NegativeCacheTTL: 30 * time.Second, JWKSMinRefresh: time.Second,
		RevocationWait: time.Second, UsageInterval: time.Hour,
	}, zaptest.NewLogger(t))
	r.now = clk.Now
	return &clockedFixture{clk: clk, auth: a, user: u, r: r}
}

// feedUp makes the resolver trust its cache as if the revocation feed had
// just answered (the feed is not running in these tests).
func (f *clockedFixture) feedUp() {
	f.r.mu.Lock()
	f.r.feedOK = f.clk.Now()
	f.r.mu.Unlock()
}

// cached reports whether the resolver holds an entry for key id.
func (f *clockedFixture) cached(id string) bool {
	f.r.mu.RLock()
	defer f.r.mu.RUnlock()
	return f.r.keys[id] != nil
}

// TestResolverRefusesExpiredKey: a key past its expires_at is refused as
// expired, whether the gateway still holds the record it fetched while the
// key was valid (its own expiry check) or asks the upstream again (which
// then reports the key "expired").
func TestResolverRefusesExpiredKey(t *testing.T) {
	ctx := context.Background()
	t.Run("cached record", func(t *testing.T) {
		f := newClockedFixture(t, 48*time.Hour)
		c, err := f.auth.CreateAPIKey(ctx, f.user.Email, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}, ExpiresInDays: 1})
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Set(c.ExpiresAt.Add(-time.Minute))
		f.feedUp()
		if _, err := f.r.APIKey(ctx, c.Key); err != nil {
			t.Fatalf("a minute before expiry: %v", err)
		}
		f.clk.Set(c.ExpiresAt)
		f.feedUp()
		if !f.cached(c.ID) {
			t.Fatal("the record is not cached: this case must use it")
		}
		if _, err := f.r.APIKey(ctx, c.Key); !errors.Is(err, ErrExpired) {
			t.Fatalf("at expires_at, from the cache: err = %v, want ErrExpired", err)
		}
		f.clk.Set(c.ExpiresAt.Add(time.Hour))
		f.feedUp()
		if _, err := f.r.APIKey(ctx, c.Key); !errors.Is(err, ErrExpired) {
			t.Fatalf("an hour past expiry: err = %v, want ErrExpired", err)
		}
	})
	t.Run("fresh introspection", func(t *testing.T) {
		f := newClockedFixture(t, 5*time.Minute)
		c, err := f.auth.CreateAPIKey(ctx, f.user.Email, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}, ExpiresInDays: 1})
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Set(c.ExpiresAt.Add(time.Second))
		if _, err := f.r.APIKey(ctx, c.Key); !errors.Is(err, ErrExpired) {
			t.Fatalf("upstream reports the key expired: err = %v, want ErrExpired", err)
		}
	})
}

// TestResolverRefusesSecretPastRotationGrace: after a rotation the previous
// secret is accepted during the grace period only, even from a record the
// gateway fetched (with both secrets) before the grace ended.
func TestResolverRefusesSecretPastRotationGrace(t *testing.T) {
	ctx := context.Background()
	f := newClockedFixture(t, 48*time.Hour)
	c, err := f.auth.CreateAPIKey(ctx, f.user.Email, auth.CreateKeyRequest{Name: "k", Scopes: []string{"read"}, ExpiresInDays: 90})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := f.auth.RotateAPIKey(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	graceEnd := f.clk.Now().Add(auth.GracePeriod)
	f.clk.Set(graceEnd.Add(-time.Minute))
	f.feedUp()
	for _, k := range []string{rotated.Key, c.Key} {
		if _, err := f.r.APIKey(ctx, k); err != nil {
			t.Fatalf("within the grace period: %v", err)
		}
	}
	f.clk.Set(graceEnd)
	f.feedUp()
	if !f.cached(c.ID) {
		t.Fatal("the record is not cached: this case must use it")
	}
	if _, err := f.r.APIKey(ctx, rotated.Key); err != nil {
		t.Fatalf("new secret after the grace period: %v", err)
	}
	if _, err := f.r.APIKey(ctx, c.Key); !errors.Is(err, ErrUnknown) {
		t.Fatalf("previous secret at the end of the grace period: err = %v, want ErrUnknown", err)
	}
	// Asked again (the mismatch refetches at most once a second), the
	// upstream no longer lists the old secret either.
	f.clk.Set(graceEnd.Add(time.Hour))
	f.feedUp()
	if _, err := f.r.APIKey(ctx, c.Key); !errors.Is(err, ErrUnknown) {
		t.Fatalf("previous secret an hour after the grace period: err = %v, want ErrUnknown", err)
	}
}
