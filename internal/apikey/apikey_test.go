package apikey

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	for i := 0; i < 100; i++ {
		id, secret, key, err := Generate()
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if len(key) != Len {
			t.Fatalf("len(key) = %d, want %d", len(key), Len)
		}
		if !strings.HasPrefix(key, Prefix) || !LooksLikeKey(key) {
			t.Fatalf("key %q lacks prefix %q", key, Prefix)
		}
		if !ValidID(id) {
			t.Fatalf("generated id %q is not valid", id)
		}
		if len(secret) != SecretLen || !only(secret, secretAlphabet) {
			t.Fatalf("generated secret %q has bad length or alphabet", secret)
		}
		gotID, gotSecret, err := Parse(key)
		if err != nil {
			t.Fatalf("Parse(%q): %v", key, err)
		}
		if gotID != id || gotSecret != secret {
			t.Fatalf("Parse(%q) = %q, %q; want %q, %q", key, gotID, gotSecret, id, secret)
		}
		if !Match(secret, Hash(secret)) {
			t.Fatalf("Match(secret, Hash(secret)) = false")
		}
	}
}

func TestGenerateUnique(t *testing.T) {
	const n = 1000
	ids := make(map[string]bool, n)
	secrets := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		id, secret, _, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		// 36^12 ids: a collision among 1000 has probability ~1e-13.
		if ids[id] {
			t.Fatalf("duplicate id %q after %d keys", id, i)
		}
		if secrets[secret] {
			t.Fatalf("duplicate secret after %d keys", i)
		}
		ids[id], secrets[secret] = true, true
	}
}

// TestGenerateUsesWholeAlphabet guards against a biased or truncated draw
// (for instance an off-by-one that never yields the last character).
func TestGenerateUsesWholeAlphabet(t *testing.T) {
	seenID := map[byte]bool{}
	seenSecret := map[byte]bool{}
	for i := 0; i < 500; i++ {
		id, secret, _, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < len(id); j++ {
			seenID[id[j]] = true
		}
		for j := 0; j < len(secret); j++ {
			seenSecret[secret[j]] = true
		}
	}
	if len(seenID) != len(idAlphabet) {
		t.Errorf("ids used %d of %d characters", len(seenID), len(idAlphabet))
	}
	if len(seenSecret) != len(secretAlphabet) {
		t.Errorf("secrets used %d of %d characters", len(seenSecret), len(secretAlphabet))
	}
}

func TestParseErrors(t *testing.T) {
	id := "abcdef012345"
	secret := strings.Repeat("aZ9", 14) + "x" // 43 characters
	valid := Prefix + id + "_" + secret
	if _, _, err := Parse(valid); err != nil {
		t.Fatalf("fixture %q does not parse: %v", valid, err)
	}
	tests := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"prefix only", Prefix},
		{"one short", valid[:Len-1]},
		{"one long", valid + "a"},
		{"wrong prefix", "hbx_" + id + "_" + secret},
		{"upper-case prefix", "HBC_" + id + "_" + secret},
		{"no prefix right length", "abcd" + id + "_" + secret},
		{"separator not underscore", Prefix + id + "-" + secret},
		{"upper-case id", Prefix + "ABCDEF012345" + "_" + secret},
		{"underscore in id", Prefix + "abcdef_12345" + "_" + secret},
		{"dash in id", Prefix + "abcdef-12345" + "_" + secret},
		{"short id long secret", Prefix + id[:11] + "_" + secret + "a"},
		{"long id short secret", Prefix + id + "a_" + secret[1:]},
		{"underscore in secret", Prefix + id + "_" + secret[:42] + "_"},
		{"dash in secret", Prefix + id + "_-" + secret[1:]},
		{"plus in secret", Prefix + id + "_+" + secret[1:]},
		{"space in secret", Prefix + id + "_ " + secret[1:]},
		{"NUL in secret", Prefix + id + "_\x00" + secret[1:]},
		{"non-ASCII in id", Prefix + "é" + id[2:] + "_" + secret},
		{"leading space", " " + valid[:Len-1]},
		{"trailing newline", valid[:Len-1] + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, secret, err := Parse(tt.key)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v, want ErrMalformed", tt.key, err)
			}
			if id != "" || secret != "" {
				t.Fatalf("Parse(%q) returned id %q, secret %q with an error", tt.key, id, secret)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"abcdef012345", true},
		{"000000000000", true},
		{"zzzzzzzzzzzz", true},
		{"", false},
		{"abcdef01234", false},
		{"abcdef0123456", false},
		{"Abcdef012345", false},
		{"abcdef_12345", false},
		{"abcdef 12345", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestLooksLikeKey(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"hbc_", true},
		{"hbc_garbage", true},
		{"hbc", false},
		{"HBC_x", false},
		{"eyJhbGciOi.x.y", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := LooksLikeKey(tt.s); got != tt.want {
			t.Errorf("LooksLikeKey(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestHashAndMatch(t *testing.T) {
	const secret = "s3cretS3cretS3cretS3cretS3cretS3cretS3cret1"
	h := Hash(secret)
	if len(h) != 64 || strings.ToLower(h) != h {
		t.Fatalf("Hash = %q, want 64 lowercase hex characters", h)
	}
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got, want := Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("Hash(abc) = %s, want %s", got, want)
	}
	tests := []struct {
		name   string
		secret string
		stored string
		want   bool
	}{
		{"same secret", secret, h, true},
		{"other secret", secret[:42] + "2", h, false},
		{"empty secret", "", h, false},
		{"hash of empty secret", "", Hash(""), true},
		{"upper-case stored hash", secret, strings.ToUpper(h), false},
		{"truncated stored hash", secret, h[:63], false},
		{"extended stored hash", secret, h + "0", false},
		{"empty stored hash", secret, "", false},
		{"raw secret as hash", secret, secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.secret, tt.stored); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewSecretKeepsID(t *testing.T) {
	id, oldSecret, oldKey, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	secret, key, err := NewSecret(id)
	if err != nil {
		t.Fatal(err)
	}
	if secret == oldSecret || key == oldKey {
		t.Fatal("NewSecret returned the old secret")
	}
	gotID, gotSecret, err := Parse(key)
	if err != nil {
		t.Fatalf("Parse(%q): %v", key, err)
	}
	if gotID != id {
		t.Fatalf("rotated key has id %q, want %q", gotID, id)
	}
	if gotSecret != secret {
		t.Fatalf("rotated key has secret %q, want %q", gotSecret, secret)
	}
	if Match(secret, Hash(oldSecret)) {
		t.Fatal("new secret matches the old hash")
	}
}

func FuzzParse(f *testing.F) {
	_, _, key, err := Generate()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Add("")
	f.Add(Prefix)
	f.Add(Prefix + "abcdef012345_" + strings.Repeat("A", SecretLen))
	f.Add(Prefix + "abcdef012345-" + strings.Repeat("A", SecretLen))
	f.Add(Prefix + "ABCDEF012345_" + strings.Repeat("A", SecretLen))
	f.Add(strings.Repeat("\xff", Len))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error %v is not ErrMalformed", s, err)
			}
			if id != "" || secret != "" {
				t.Fatalf("Parse(%q) returned parts with an error", s)
			}
			return
		}
		if got := Prefix + id + "_" + secret; got != s {
			t.Fatalf("Parse(%q) re-serializes to %q", s, got)
		}
		if !ValidID(id) {
			t.Fatalf("Parse(%q) accepted invalid id %q", s, id)
		}
		if len(secret) != SecretLen || !only(secret, secretAlphabet) {
			t.Fatalf("Parse(%q) accepted invalid secret %q", s, secret)
		}
		if !LooksLikeKey(s) {
			t.Fatalf("Parse accepted %q but LooksLikeKey rejects it", s)
		}
	})
}
