package hubidempotency

import (
	"net/http"
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
	ct := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	base := fingerprint(k, "POST", "/a", "x=1", ct(), []byte(`{}`))
	for name, other := range map[string]string{
		"method":   fingerprint(k, "PATCH", "/a", "x=1", ct(), []byte(`{}`)),
		"path":     fingerprint(k, "POST", "/b", "x=1", ct(), []byte(`{}`)),
		"query":    fingerprint(k, "POST", "/a", "x=2", ct(), []byte(`{}`)),
		"type":     fingerprint(k, "POST", "/a", "x=1", http.Header{"Content-Type": {"text/plain"}}, []byte(`{}`)),
		"if-match": fingerprint(k, "POST", "/a", "x=1", ct("If-Match", `"v2"`), []byte(`{}`)),
		"body":     fingerprint(k, "POST", "/a", "x=1", ct(), []byte(`{ }`)),
		// Length prefixes: moving a byte from one part to the next differs.
		"shift": fingerprint(k, "POST", "/ax", "=1", ct(), []byte(`{}`)),
		"key":   fingerprint([]byte("other"), "POST", "/a", "x=1", ct(), []byte(`{}`)),
	} {
		if other == base {
			t.Errorf("%s: same fingerprint", name)
		}
	}
	same := ct("X-Request-Id", "retry-2", "Traceparent", "00-abc")
	if fingerprint(k, "POST", "/a", "x=1", same, []byte(`{}`)) != base {
		t.Error("a retry's own headers changed the fingerprint")
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
