package hubidempotency

import (
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	ok := map[string]string{
		`"abc"`:                              "abc",
		`  "8e03978e-40d5"  `:                "8e03978e-40d5",
		`"a \"quoted\" \\ key"`:              `a "quoted" \ key`,
		`"` + strings.Repeat("k", 255) + `"`: strings.Repeat("k", 255),
	}
	for in, want := range ok {
		got, err := ParseKey(in, DefaultMaxKeyLength)
		if err != nil || got != want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		``, `abc`, `""`, `"abc`, `"abc"x`, `"abc";p=1`, `"a\nb"`, `"a\qb"`, `"a\`, `"tab	"`,
		`"é"`, `"abc", "def"`, `:YWJj:`, `1`, `"` + strings.Repeat("k", 256) + `"`,
	}
	for _, in := range bad {
		if got, err := ParseKey(in, DefaultMaxKeyLength); err == nil {
			t.Errorf("ParseKey(%q) = %q, want an error", in, got)
		}
	}
}

func TestFingerprintParts(t *testing.T) {
	k := []byte("k")
	base := fingerprint(k, "POST", "/a", "x=1", "application/json", []byte(`{}`))
	for name, other := range map[string]string{
		"method": fingerprint(k, "PATCH", "/a", "x=1", "application/json", []byte(`{}`)),
		"path":   fingerprint(k, "POST", "/b", "x=1", "application/json", []byte(`{}`)),
		"query":  fingerprint(k, "POST", "/a", "x=2", "application/json", []byte(`{}`)),
		"type":   fingerprint(k, "POST", "/a", "x=1", "text/plain", []byte(`{}`)),
		"body":   fingerprint(k, "POST", "/a", "x=1", "application/json", []byte(`{ }`)),
		// Length prefixes: moving a byte from one part to the next differs.
		"shift": fingerprint(k, "POST", "/ax", "=1", "application/json", []byte(`{}`)),
	} {
		if other == base {
			t.Errorf("%s: same fingerprint", name)
		}
	}
	if fingerprint(k, "POST", "/a", "x=1", "application/json", []byte(`{}`)) != base {
		t.Error("fingerprint is not deterministic")
	}
	if fingerprint([]byte("other"), "POST", "/a", "x=1", "application/json", []byte(`{}`)) == base {
		t.Error("fingerprint is not keyed")
	}
}

// FuzzParseKey: never panics; an accepted key is 1..max printable ASCII
// bytes, and quoting it again parses back to itself.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"\\"`, ` "x" `, `"`, `""`, `"a";b`, "\"\x00\"", `"` + strings.Repeat("z", 300) + `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseKey(in, 64)
		if err != nil {
			return
		}
		if len(k) == 0 || len(k) > 64 {
			t.Fatalf("accepted key of %d bytes", len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("accepted byte %#x", k[i])
			}
		}
		q := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if back, err := ParseKey(q, 64); err != nil || back != k {
			t.Fatalf("round trip of %q: %q, %v", k, back, err)
		}
	})
}
