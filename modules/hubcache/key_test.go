package hubcache

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/modules/hub"
)

func TestNormalizeQuery(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"limit=2&page=1", "limit=2&page=1", true},
		{"page=1&limit=2", "limit=2&page=1", true},
		{"fields=id,nom&limit=2", "limit=2", true},
		{"sort=b&sort=a", "sort=b&sort=a", true}, // value order is meaning
		{"a=%20x", "a=+x", true},
		{"a=%zz", "", false},
		{"a=1;b=2", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeQuery(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeQuery(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestKeyPerPrincipal(t *testing.T) {
	alice := ident("1", "k1", "read", "write")
	tests := []struct {
		name   string
		a, b   *hub.Identity
		qa, qb string
		shared bool
		same   bool
	}{
		{"same principal", alice, ident("1", "k1", "read", "write"), "", "", false, true},
		{"scope order is irrelevant", alice, ident("1", "k1", "write", "read"), "", "", false, true},
		{"other scopes", alice, ident("1", "k1", "read"), "", "", false, false},
		{"other key of the same user", alice, ident("1", "k2", "read", "write"), "", "", false, false},
		{"other owner", alice, ident("2", "k1", "read", "write"), "", "", false, false},
		{"anonymous", alice, nil, "", "", false, false},
		{"shared route", alice, ident("2", "k9", "read"), "", "", true, true},
		{"fields excluded", alice, alice, "limit=2&fields=id", "limit=2", false, true},
		{"query order", alice, alice, "a=1&b=2", "b=2&a=1", false, true},
		{"other query", alice, alice, "a=1", "a=2", false, false},
		{"separator injection", ident("1 x", "", ""), ident("1", "", "x"), "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := buildKey(request("GET", "/api/v1/chantiers", tt.a), mustNorm(t, tt.qa), tt.shared)
			kb := buildKey(request("GET", "/api/v1/chantiers", tt.b), mustNorm(t, tt.qb), tt.shared)
			if (ka.hash == kb.hash) != tt.same {
				t.Fatalf("same key = %v, want %v", ka.hash == kb.hash, tt.same)
			}
			if len(ka.hash) != 64 {
				t.Fatalf("key hash %q is not hex SHA-256", ka.hash)
			}
		})
	}
}

func mustNorm(t *testing.T, q string) string {
	n, ok := normalizeQuery(q)
	if !ok {
		t.Fatalf("bad query %q", q)
	}
	return n
}

func TestKeyHashesHideMaterial(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/v1/chantiers/42", nil)
	k := buildKey(request(r.Method, r.URL.String(), ident("user-777", "secretkeyid", "read")), "", false)
	for _, s := range append([]string{k.hash}, k.tags...) {
		for _, leak := range []string{"user-777", "secretkeyid", "chantiers"} {
			if strings.Contains(s, leak) {
				t.Fatalf("store name %q leaks %q", s, leak)
			}
		}
	}
}

func TestPrefixes(t *testing.T) {
	got := prefixes("/api/v1/chantiers/42")
	want := []string{"/api", "/api/v1", "/api/v1/chantiers", "/api/v1/chantiers/42"}
	if len(got) != len(want) {
		t.Fatalf("prefixes = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("prefixes = %v, want %v", got, want)
		}
	}
}

// FuzzNormalizeQuery: the normal form is stable, never keeps fields, and
// two queries with one normal form get one key.
func FuzzNormalizeQuery(f *testing.F) {
	for _, s := range []string{"", "b=2&a=1", "fields=id&limit=5", "a=%zz", "a=1&a=2&fields=x,y", "%3D=%26"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, ok := normalizeQuery(raw)
		if !ok {
			return
		}
		again, ok := normalizeQuery(n)
		if !ok || again != n {
			t.Fatalf("normalizeQuery(%q) = %q, not stable: %q %v", raw, n, again, ok)
		}
		if strings.HasPrefix(n, "fields=") || strings.Contains(n, "&fields=") {
			t.Fatalf("normalizeQuery(%q) = %q keeps fields", raw, n)
		}
	})
}
