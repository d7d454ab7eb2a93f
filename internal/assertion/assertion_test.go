package assertion

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = bytes.Repeat([]byte("k"), 32)
	testNow    = time.Unix(1_750_000_000, 0)
)

func testClaims() Claims {
	return Claims{
		Subject:    "user-42",
		Role:       "conducteur",
		Method:     MethodAPIKey,
		KeyID:      "abcdef012345",
		Scopes:     []string{"chantiers:read", "write"},
		RequestID:  "req-1",
		HTTPMethod: "POST",
	}
}

func mustSign(t *testing.T, c Claims, now time.Time) string {
	t.Helper()
	tok, err := Sign(testSecret, c, now)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func TestSignVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		claims Claims
	}{
		{"api key", testClaims()},
		{"anonymous", Claims{Method: MethodAnonymous, HTTPMethod: "GET"}},
		{"oauth2", Claims{Subject: "u", Method: MethodOAuth2, ClientID: "app", Scopes: []string{"read"}, HTTPMethod: "DELETE"}},
		{"jwt with odd characters", Claims{Subject: "é\"\\<>\u2028", Role: "admin", Method: MethodJWT, HTTPMethod: "PATCH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustSign(t, tt.claims, testNow)
			if strings.Count(tok, ".") != 1 {
				t.Fatalf("token %q is not payload.signature", tok)
			}
			got, err := Verify(testSecret, tok, tt.claims.HTTPMethod, testNow)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tt.claims
			want.IssuedAt = testNow.Unix()
			want.Expires = testNow.Add(Lifetime).Unix()
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("Verify = %+v, want %+v", *got, want)
			}
			if got.Anonymous() != (tt.claims.Subject == "") {
				t.Fatalf("Anonymous() = %v for subject %q", got.Anonymous(), tt.claims.Subject)
			}
		})
	}
}

func TestSignDoesNotTrustCallerTimes(t *testing.T) {
	c := testClaims()
	c.IssuedAt, c.Expires = 1, 1<<40
	got, err := Verify(testSecret, mustSign(t, c, testNow), c.HTTPMethod, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got.IssuedAt != testNow.Unix() || got.Expires != testNow.Add(Lifetime).Unix() {
		t.Fatalf("iat/exp = %d/%d, want %d/%d", got.IssuedAt, got.Expires, testNow.Unix(), testNow.Add(Lifetime).Unix())
	}
}

func TestSignEmptySecret(t *testing.T) {
	for _, secret := range [][]byte{nil, {}} {
		if tok, err := Sign(secret, testClaims(), testNow); err == nil {
			t.Fatalf("Sign with empty secret = %q, want an error", tok)
		}
	}
}

func TestVerifyEmptySecret(t *testing.T) {
	tok := mustSign(t, testClaims(), testNow)
	// An HMAC under an empty key is computable by anyone; it must never pass.
	forged := forge(t, nil, testClaims())
	for _, token := range []string{tok, forged} {
		if _, err := Verify(nil, token, "POST", testNow); !errors.Is(err, ErrSignature) {
			t.Fatalf("Verify with empty secret error = %v, want ErrSignature", err)
		}
	}
}

// forge builds a token with an arbitrary payload signed under secret,
// bypassing Sign's checks.
func forge(t *testing.T, secret []byte, c Claims) string {
	t.Helper()
	c.IssuedAt = testNow.Unix()
	c.Expires = testNow.Add(Lifetime).Unix()
	tok, err := Sign([]byte("x"), c, testNow)
	if err != nil {
		t.Fatal(err)
	}
	payload, _, _ := strings.Cut(tok, ".")
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(secret, payload))
}

func TestVerifyRejects(t *testing.T) {
	good := mustSign(t, testClaims(), testNow)
	payload, sig, _ := strings.Cut(good, ".")

	other := testClaims()
	other.Subject = "admin"
	otherPayload, _, _ := strings.Cut(mustSign(t, other, testNow), ".")

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	signedRaw := func(payload string) string {
		return payload + "." + base64.RawURLEncoding.EncodeToString(mac(testSecret, payload))
	}
	b64 := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name   string
		secret []byte
		token  string
		method string
		now    time.Time
		want   error
	}{
		{"empty token", testSecret, "", "POST", testNow, ErrMissing},
		{"no dot", testSecret, payload + sig, "POST", testNow, ErrMalformed},
		{"only a dot", testSecret, ".", "POST", testNow, ErrSignature},
		{"signature not base64url", testSecret, payload + ".***", "POST", testNow, ErrMalformed},
		{"signature padded std base64", testSecret, payload + "." + base64.StdEncoding.EncodeToString([]byte("xx")), "POST", testNow, ErrMalformed},
		{"too long", testSecret, payload + "." + sig + strings.Repeat("A", 8192), "POST", testNow, ErrMalformed},
		{"payload swapped", testSecret, otherPayload + "." + sig, "POST", testNow, ErrSignature},
		{"payload byte flipped", testSecret, flip(payload, 5) + "." + sig, "POST", testNow, ErrSignature},
		{"payload truncated", testSecret, payload[:len(payload)-1] + "." + sig, "POST", testNow, ErrSignature},
		{"signature byte flipped", testSecret, payload + "." + flip(sig, 3), "POST", testNow, ErrSignature},
		{"signature truncated", testSecret, payload + "." + sig[:len(sig)-4], "POST", testNow, ErrSignature},
		{"signature empty", testSecret, payload + ".", "POST", testNow, ErrSignature},
		{"second dot", testSecret, good + ".x", "POST", testNow, ErrMalformed},
		{"wrong secret", bytes.Repeat([]byte("j"), 32), good, "POST", testNow, ErrSignature},
		{"secret prefix", testSecret[:31], good, "POST", testNow, ErrSignature},
		{"signed without domain separation", testSecret, payload + "." + b64(rawMAC(testSecret, payload)), "POST", testNow, ErrSignature},
		{"signed payload not base64", testSecret, signedRaw("!!!"), "POST", testNow, ErrMalformed},
		{"signed payload not JSON", testSecret, signedRaw(b64([]byte("not json"))), "POST", testNow, ErrMalformed},
		{"signed payload JSON array", testSecret, signedRaw(b64([]byte(`[1,2]`))), "POST", testNow, ErrMalformed},
		{"signed payload wrong types", testSecret, signedRaw(b64([]byte(`{"iat":"now"}`))), "POST", testNow, ErrMalformed},
		{"expired one second after exp", testSecret, good, "POST", testNow.Add(Lifetime + time.Second), ErrExpired},
		{"expired long ago", testSecret, good, "POST", testNow.Add(24 * time.Hour), ErrExpired},
		{"issued two seconds in the future", testSecret, good, "POST", testNow.Add(-2 * time.Second), ErrExpired},
		{"issued an hour in the future", testSecret, good, "POST", testNow.Add(-time.Hour), ErrExpired},
		{"signed JSON without times", testSecret, signedRaw(b64([]byte(`{"amr":"anonymous","mth":"POST"}`))), "POST", testNow, ErrExpired},
		{"other method", testSecret, good, "GET", testNow, ErrBinding},
		{"method case differs", testSecret, good, "post", testNow, ErrBinding},
		{"empty method", testSecret, good, "", testNow, ErrBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Verify(tt.secret, tt.token, tt.method, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if c != nil {
				t.Fatalf("Verify returned claims %+v with an error", c)
			}
		})
	}
}

// rawMAC is HMAC-SHA256 without the "hub-assertion-v1." domain prefix.
func rawMAC(secret []byte, payload string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(payload))
	return h.Sum(nil)
}

func TestVerifyValidityWindow(t *testing.T) {
	tok := mustSign(t, testClaims(), testNow)
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at issue", testNow, true},
		{"one second of skew before issue", testNow.Add(-time.Second), true},
		{"two seconds before issue", testNow.Add(-2 * time.Second), false},
		{"just before expiry", testNow.Add(Lifetime - time.Second), true},
		{"at expiry", testNow.Add(Lifetime), true},
		{"one second after expiry", testNow.Add(Lifetime + time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(testSecret, tok, "POST", tt.now)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrExpired) {
				t.Fatalf("Verify error = %v, want ErrExpired", err)
			}
		})
	}
}

func TestHasScope(t *testing.T) {
	c := Claims{Scopes: []string{"chantiers:read", "write"}}
	tests := []struct {
		scope string
		want  bool
	}{
		{"chantiers:read", true},
		{"write", true},
		{"read", false},
		{"chantiers:*", false},
		{"chantiers", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := c.HasScope(tt.scope); got != tt.want {
			t.Errorf("HasScope(%q) = %v, want %v", tt.scope, got, tt.want)
		}
	}
	if (&Claims{}).HasScope("read") {
		t.Error("claims without scopes grant read")
	}
}

func FuzzVerify(f *testing.F) {
	good, err := Sign(testSecret, testClaims(), testNow)
	if err != nil {
		f.Fatal(err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	f.Add(good, "POST")
	f.Add(payload+"."+sig[1:], "POST")
	f.Add(payload, "GET")
	f.Add("", "")
	f.Add(".", "GET")
	f.Add("e30.", "GET")
	f.Add("e30.AAAA", "GET")
	f.Fuzz(func(t *testing.T, token, method string) {
		c, err := Verify(testSecret, token, method, testNow)
		if err == nil {
			// Only tokens Sign produced under testSecret verify; the fuzzer
			// cannot forge an HMAC, so any success must be the seed itself
			// (or a re-encoding of its signature that decodes to the same bytes).
			p, _, _ := strings.Cut(token, ".")
			if p != payload || method != "POST" || c == nil || c.Subject != "user-42" {
				t.Fatalf("Verify accepted forged token %q (method %q): %+v", token, method, c)
			}
			return
		}
		if c != nil {
			t.Fatalf("Verify returned claims with error %v", err)
		}
		known := []error{ErrMissing, ErrMalformed, ErrSignature, ErrExpired, ErrBinding}
		for _, k := range known {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("Verify returned unexpected error %v", err)
	})
}

// TestEmptyMethodNeverBinds: an assertion must name the method it was
// issued for. One with an empty (or absent) mth, even correctly signed,
// is refused whatever method the request has, the empty one included, and
// Sign never produces one.
func TestEmptyMethodNeverBinds(t *testing.T) {
	c := testClaims()
	c.HTTPMethod = ""
	if tok, err := Sign(testSecret, c, testNow); err == nil {
		t.Errorf("Sign with an empty HTTPMethod = %q, want an error", tok)
	}
	exp := testNow.Add(Lifetime).Unix()
	signed := func(json string) string {
		payload := base64.RawURLEncoding.EncodeToString([]byte(json))
		return payload + "." + base64.RawURLEncoding.EncodeToString(mac(testSecret, payload))
	}
	for name, tok := range map[string]string{
		"empty mth":  signed(fmt.Sprintf(`{"sub":"1","role":"admin","amr":"jwt","mth":"","iat":%d,"exp":%d}`, testNow.Unix(), exp)),
		"absent mth": signed(fmt.Sprintf(`{"sub":"1","role":"admin","amr":"jwt","iat":%d,"exp":%d}`, testNow.Unix(), exp)),
	} {
		for _, m := range []string{"", "GET", "POST", "DELETE"} {
			if c, err := Verify(testSecret, tok, m, testNow); !errors.Is(err, ErrBinding) || c != nil {
				t.Errorf("%s, request method %q: claims %+v, err %v; want ErrBinding", name, m, c, err)
			}
		}
	}
}
