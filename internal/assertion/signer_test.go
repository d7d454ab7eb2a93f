package assertion

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// signReference is Sign as it was before the Signer: json.Marshal, a new
// HMAC per token.
func signReference(secret []byte, c Claims, now time.Time) string {
	c.IssuedAt = now.Unix()
	c.Expires = now.Add(Lifetime).Unix()
	body, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(body)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(domain + payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// TestSignerMatchesReference: the hand-written encoding gives the very
// tokens json.Marshal gave, for every combination of empty members, and
// again on a reused state.
func TestSignerMatchesReference(t *testing.T) {
	s := NewSigner(testSecret)
	cases := []Claims{
		testClaims(),
		{Method: MethodAnonymous, HTTPMethod: "GET"},
		{Subject: "u", Method: MethodOAuth2, ClientID: "app", Scopes: []string{"read"}, HTTPMethod: "DELETE"},
		{Subject: "é\"\\<>\u2028\xff", Role: "admin", Method: MethodJWT, HTTPMethod: "PATCH", Scopes: []string{}},
		{Role: "r", Method: "m", KeyID: "k", RequestID: "rid", HTTPMethod: "HEAD"},
	}
	for round := 0; round < 2; round++ {
		for i, c := range cases {
			want := signReference(testSecret, c, testNow)
			got, err := s.Sign(&c, testNow)
			if err != nil || got != want {
				t.Fatalf("case %d: %q (%v), want %q", i, got, err, want)
			}
			if v, err := Verify(testSecret, got, c.HTTPMethod, testNow); err != nil || v.Role != c.Role || v.KeyID != c.KeyID {
				t.Fatalf("case %d: Verify: %v %+v", i, err, v)
			}
		}
	}
}

// TestSignerConcurrent: pooled states are never shared by two signings.
func TestSignerConcurrent(t *testing.T) {
	s := NewSigner(testSecret)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c := testClaims()
				c.RequestID = string(rune('a'+g)) + "-req"
				got, _ := s.Sign(&c, testNow)
				if want := signReference(testSecret, c, testNow); got != want {
					t.Errorf("goroutine %d: %q, want %q", g, got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func FuzzSignerMatchesReference(f *testing.F) {
	f.Add("user-42", "conducteur", "api_key", "kid", "", "chantiers:read", "req-1", "GET", int64(1_750_000_000))
	f.Add("", "", "anonymous", "", "app", "", "", "POST", int64(0))
	f.Add("\xff<", "\u2028", "\"", "\\", "\x00", "é", "&", "M", int64(-5))
	s := NewSigner(testSecret)
	f.Fuzz(func(t *testing.T, sub, role, amr, kid, cid, scope, rid, mth string, unix int64) {
		if mth == "" {
			return
		}
		c := Claims{Subject: sub, Role: role, Method: amr, KeyID: kid, ClientID: cid, RequestID: rid, HTTPMethod: mth}
		if scope != "" {
			c.Scopes = []string{scope, scope + "2"}
		}
		now := time.Unix(unix%(1<<40), 0)
		got, err := s.Sign(&c, now)
		if want := signReference(testSecret, c, now); err != nil || got != want {
			t.Fatalf("%q (%v), want %q", got, err, want)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	c := testClaims()
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = signReference(testSecret, c, testNow)
		}
	})
	b.Run("Signer", func(b *testing.B) {
		s := NewSigner(testSecret)
		b.ReportAllocs()
		for b.Loop() {
			cc := c
			if _, err := s.Sign(&cc, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}
