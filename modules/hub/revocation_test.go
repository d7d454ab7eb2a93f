package hub

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/auth"
)

// TestApplyClientCut: a "client" event refuses that client's tokens issued
// up to the event, and nothing else.
func TestApplyClientCut(t *testing.T) {
	cut := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := NewResolver(ResolverConfig{}, zap.NewNop())
	r.now = func() time.Time { return cut.Add(time.Second) }
	r.apply([]contract.RevocationEvent{{Seq: 1, Kind: "client", ID: "hcc_a", At: cut}})

	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(cut.Add(d)) }
	cases := []struct {
		name        string
		jti, sub    string
		client      string
		iat         *jwt.NumericDate
		wantRevoked bool
	}{
		{"revoked client, issued before", "j1", "1", "hcc_a", at(-time.Minute), true},
		{"revoked client, issued at the cut", "j2", "1", "hcc_a", at(0), true},
		{"revoked client, no iat", "j3", "1", "hcc_a", nil, true},
		{"revoked client, issued after", "j4", "1", "hcc_a", at(2 * time.Second), false},
		{"other client", "j5", "1", "hcc_b", at(-time.Minute), false},
		{"login token of the same user", "j6", "1", "", at(-time.Minute), false},
		{"user id that looks like the key", "j7", "client:hcc_a", "", at(-time.Minute), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.tokenRevoked(c.jti, c.sub, c.client, c.iat); got != c.wantRevoked {
				t.Fatalf("tokenRevoked = %v, want %v", got, c.wantRevoked)
			}
		})
	}
}

// TestApplyTokenAndUserEventsStillWork guards the existing kinds next to
// the new one, and the forgetting of old client cuts.
func TestApplyTokenAndUserEventsStillWork(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := NewResolver(ResolverConfig{}, zap.NewNop())
	r.now = func() time.Time { return now }
	r.apply([]contract.RevocationEvent{
		{Seq: 1, Kind: "token", ID: "jti-x", At: now},
		{Seq: 2, Kind: "user", ID: "7", At: now},
		{Seq: 3, Kind: "client", ID: "hcc_old", At: now},
	})
	before := jwt.NewNumericDate(now.Add(-time.Minute))
	if !r.tokenRevoked("jti-x", "1", "hcc_z", before) {
		t.Fatal("revoked jti accepted")
	}
	if !r.tokenRevoked("other", "7", "hcc_z", before) {
		t.Fatal("token of a cut user accepted")
	}
	if !r.tokenRevoked("other", "1", "hcc_old", before) {
		t.Fatal("token of a revoked client accepted")
	}
	// Past every token's lifetime the client cut is forgotten (its tokens
	// have expired anyway); the user cut stays.
	now = now.Add(forgetRevokedFor + time.Minute)
	r.apply([]contract.RevocationEvent{{Seq: 4, Kind: "token", ID: "jti-y", At: now}})
	r.mu.RLock()
	_, clientKept := r.clientCut["hcc_old"]
	_, userKept := r.userCut["7"]
	r.mu.RUnlock()
	if clientKept || !userKept {
		t.Fatalf("after %s: client cut kept=%v (want false), user cut kept=%v (want true)", forgetRevokedFor, clientKept, userKept)
	}
}

// TestResolverOAuthRevocation runs the real upstream: OAuth2 access tokens
// verify as method oauth2, then a revoked jti and a revoked client are
// refused through the live revocation feed.
func TestResolverOAuthRevocation(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	ctx := context.Background()
	issue := func(client string) auth.OAuthClaims {
		t.Helper()
		tok, c, err := f.auth.IssueOAuthToken(ctx, auth.OAuthClaims{
			Subject: strconv.FormatInt(f.user.ID, 10), Role: f.user.Role, ClientID: client, Scope: "chantiers:read",
		}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c.ID = tok // reuse the field to carry the JWT in this test
		return c
	}
	jtiOf := func(tok string) string {
		var mc jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &mc); err != nil {
			t.Fatal(err)
		}
		return mc["jti"].(string)
	}
	a1, a2, b := issue("hcc_a"), issue("hcc_a"), issue("hcc_b")
	id, err := r.JWT(ctx, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if id.Method != "oauth2" || id.ClientID != "hcc_a" || len(id.Scopes) != 1 || id.Scopes[0] != "chantiers:read" {
		t.Fatalf("identity %+v", id)
	}

	refusedSoon := func(tok, what string) {
		t.Helper()
		start := time.Now()
		for {
			_, err := r.JWT(ctx, tok)
			if errors.Is(err, ErrRevoked) {
				t.Logf("%s refused after %s", what, time.Since(start))
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s still accepted (err=%v)", what, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if err := f.auth.Publish(ctx, auth.KindToken, jtiOf(a1.ID)); err != nil {
		t.Fatal(err)
	}
	refusedSoon(a1.ID, "revoked jti")
	if _, err := r.JWT(ctx, a2.ID); err != nil {
		t.Fatalf("sibling token refused by a jti revocation: %v", err)
	}

	if err := f.auth.Publish(ctx, auth.KindClient, "hcc_a"); err != nil {
		t.Fatal(err)
	}
	refusedSoon(a2.ID, "token of a revoked client")
	if _, err := r.JWT(ctx, b.ID); err != nil {
		t.Fatalf("token of another client refused: %v", err)
	}
}
