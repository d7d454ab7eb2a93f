package oauth

import (
	"strings"
	"testing"
)

func TestValidateRedirectURI(t *testing.T) {
	cases := []struct {
		uri string
		ok  bool
	}{
		{"https://erp.example.com/callback", true},
		{"https://erp.example.com/cb?tenant=4", true},
		{"http://127.0.0.1/cb", true},
		{"http://[::1]:8080/cb", true},
		{"http://localhost:3000/cb", true},
		{"com.example.calendar:/oauth", true},
		{"http://erp.example.com/cb", false},
		{"https://erp.example.com/cb#frag", false},
		{"https://user:pw@erp.example.com/cb", false},
		{"/relative/cb", false},
		{"myapp:/cb", false},
		{"https:///nohost", false},
		{"https://x.example/" + strings.Repeat("a", MaxRedirectURILen), false},
	}
	for _, c := range cases {
		if err := validateRedirectURI(c.uri); (err == nil) != c.ok {
			t.Errorf("validateRedirectURI(%q) = %v, want ok=%v", c.uri, err, c.ok)
		}
	}
}

func TestRedirectAllowed(t *testing.T) {
	reg := []string{"https://erp.example.com/callback", "http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost:3000/cb"}
	cases := []struct {
		uri string
		ok  bool
	}{
		{"https://erp.example.com/callback", true},
		{"https://erp.example.com/callback/", false},
		{"https://erp.example.com/Callback", false},
		{"https://erp.example.com/callback?x=1", false},
		{"https://erp.example.com:443/callback", false},
		{"http://127.0.0.1:51234/cb", true}, // RFC 8252 §7.3: any port on a loopback IP
		{"http://127.0.0.1/cb", true},
		{"http://[::1]:9/cb", true},
		{"http://127.0.0.1:51234/cb2", false},
		{"http://127.0.0.1:51234/cb?x=1", false},
		{"http://127.0.0.1:51234/cb#f", false},
		{"http://127.0.0.2:51234/cb", false},
		{"http://localhost:3000/cb", true},
		{"http://localhost:3001/cb", false}, // only IP literals get the port exception
		{"http://u@127.0.0.1:5/cb", false},
		{"https://127.0.0.1:5/cb", false},
	}
	for _, c := range cases {
		if got := redirectAllowed(reg, c.uri); got != c.ok {
			t.Errorf("redirectAllowed(%q) = %v, want %v", c.uri, got, c.ok)
		}
	}
}

// FuzzRedirectAllowed: only the loopback port may differ from a
// registered URI; nothing panics.
func FuzzRedirectAllowed(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:1/cb", "https://erp.example.com/callback", "http://[::1]:0/cb", "http://127.0.0.1:1/cb#", "%zz"} {
		f.Add(s)
	}
	reg := []string{"https://erp.example.com/callback", "http://127.0.0.1/cb", "http://[::1]/cb"}
	f.Fuzz(func(t *testing.T, uri string) {
		if !redirectAllowed(reg, uri) {
			return
		}
		if uri == reg[0] {
			return
		}
		if !strings.HasPrefix(uri, "http://127.0.0.1") && !strings.HasPrefix(uri, "http://[::1]") {
			t.Fatalf("accepted %q", uri)
		}
		if strings.Contains(uri, "#") || strings.Contains(uri, "@") {
			t.Fatalf("accepted %q", uri)
		}
	})
}

func TestValidPKCEValue(t *testing.T) {
	v, c := pkce("k")
	if !validPKCEValue(v) || !validPKCEValue(c) || !verifierMatches(v, c) {
		t.Fatal("valid pair refused")
	}
	for _, bad := range []string{"", strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("a", 42) + "!", strings.Repeat("a", 42) + " "} {
		if validPKCEValue(bad) {
			t.Errorf("validPKCEValue(%q) = true", bad)
		}
	}
	if verifierMatches(strings.Repeat("b", 43), c) {
		t.Fatal("wrong verifier matched")
	}
}
