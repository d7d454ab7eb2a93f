package oauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// rfc6749Text is the character set of error and error_description
// (RFC 6749 §5.2): %x20-21 / %x23-5B / %x5D-7E.
var rfc6749Text = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]*$`)

// TestErrorDescriptionCharset walks every error path of the token,
// revocation and introspection endpoints and the authorization endpoint's
// redirected errors, with client input full of quotes, backslashes and
// non-ASCII where the server may quote it, and checks each error and
// error_description against RFC 6749's character set.
func TestErrorDescriptionCharset(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	nasty := "sc\"ope\\é\x01"
	code, verifier := e.publicCode("chantiers:read")
	_, refresh := e.exchangePublic(code, verifier)
	pub := url.Values{"client_id": {e.public.ID}}
	with := func(base url.Values, kv ...string) string {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	basic := func(id, secret string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(id, secret)
		return req.Header.Get("Authorization")
	}
	type call struct {
		name, method, path, ctype, body, auth string
	}
	form := "application/x-www-form-urlencoded"
	calls := []call{
		{"not a form", "POST", "/oauth/token", "application/json", `{}`, ""},
		{"bad form", "POST", "/oauth/token", form, "a=%zz", ""},
		{"query string", "POST", "/oauth/token?x=1", form, "grant_type=refresh_token", ""},
		{"repeated parameter with quotes", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token", nasty, "1", nasty, "2"), ""},
		{"repeated grant_type", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token", "grant_type", "x"), ""},
		{"no grant_type", "POST", "/oauth/token", form, with(pub), ""},
		{"unsupported grant", "POST", "/oauth/token", form, with(pub, "grant_type", nasty), ""},
		{"malformed Basic", "POST", "/oauth/token", form, "grant_type=refresh_token", "Basic %%%"},
		{"Basic with %zz", "POST", "/oauth/token", form, "grant_type=refresh_token", basic("%zz", "x")},
		{"Basic and client_secret", "POST", "/oauth/token", form, "grant_type=refresh_token&client_secret=x", basic(e.conf.ID, "x")},
		{"client_id differs", "POST", "/oauth/token", form, "grant_type=refresh_token&client_id=" + url.QueryEscape(nasty), basic(e.conf.ID, "x")},
		{"no client", "POST", "/oauth/token", form, "grant_type=refresh_token", ""},
		{"unknown client", "POST", "/oauth/token", form, with(url.Values{"client_id": {nasty}}, "grant_type", "refresh_token"), ""},
		{"public client with secret", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token", "client_secret", nasty), ""},
		{"confidential without secret", "POST", "/oauth/token", form, "grant_type=refresh_token&client_id=" + e.conf.ID, ""},
		{"bad secret", "POST", "/oauth/token", form, "grant_type=refresh_token", basic(e.conf.ID, nasty)},
		{"no refresh_token", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token"), ""},
		{"unknown refresh_token", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token", "refresh_token", nasty), ""},
		{"scope escalation at refresh", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token", "refresh_token", refresh, "scope", "chantiers:write"), ""},
		{"unknown scope at refresh", "POST", "/oauth/token", form, with(pub, "grant_type", "refresh_token", "refresh_token", refresh, "scope", nasty), ""},
		{"no code", "POST", "/oauth/token", form, with(pub, "grant_type", "authorization_code"), ""},
		{"no redirect_uri", "POST", "/oauth/token", form, with(pub, "grant_type", "authorization_code", "code", "x"), ""},
		{"unknown code", "POST", "/oauth/token", form, with(pub, "grant_type", "authorization_code", "code", nasty, "redirect_uri", nasty), ""},
		{"body too large", "POST", "/oauth/token", form, "grant_type=" + strings.Repeat("a", maxFormBody+1), ""},
		{"GET on token", "GET", "/oauth/token", "", "", ""},
		{"GET on revoke", "GET", "/oauth/revoke", "", "", ""},
		{"PUT on introspect", "PUT", "/oauth/introspect", form, "", ""},
		{"revoke without token", "POST", "/oauth/revoke", form, with(pub), ""},
		{"revoke repeated", "POST", "/oauth/revoke", form, with(pub, nasty, "1", nasty, "2"), ""},
		{"introspect by a public client", "POST", "/oauth/introspect", form, with(pub, "token", "x"), ""},
		{"introspect without token", "POST", "/oauth/introspect", form, "", basic(e.conf.ID, e.conf.ClientSecret)},
	}
	seen := map[string]bool{}
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		r := do(t, http.DefaultClient, req)
		var m map[string]string
		if r.status < 400 || r.header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(r.body), &m) != nil || m["error"] == "" {
			t.Errorf("%s: want an RFC 6749 JSON error, got %d %s %s", c.name, r.status, r.header.Get("Content-Type"), r.body)
			continue
		}
		seen[m["error"]] = true
		want := map[string]int{"body too large": 413, "GET on token": 405, "GET on revoke": 405, "PUT on introspect": 405}[c.name]
		if want != 0 && r.status != want {
			t.Errorf("%s: status %d, want %d", c.name, r.status, want)
		}
		if want == 405 && r.header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", c.name, r.header.Get("Allow"))
		}
		for k, v := range m {
			if !rfc6749Text.MatchString(v) {
				t.Errorf("%s: %s %q is outside RFC 6749's character set", c.name, k, v)
			}
		}
	}
	for _, code := range []string{"invalid_request", "invalid_client", "invalid_grant", "invalid_scope", "unsupported_grant_type"} {
		if !seen[code] {
			t.Errorf("no path reached %s", code)
		}
	}

	// Errors redirected from the authorization endpoint.
	_, challenge := pkce("cs")
	base := url.Values{"response_type": {"code"}, "client_id": {e.public.ID}, "redirect_uri": {publicRedirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	redirects := map[string]url.Values{}
	add := func(name string, kv ...string) {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		redirects[name] = v
	}
	add("unknown scope", "scope", nasty)
	add("response_type", "response_type", nasty)
	add("no response_type", "response_type", "")
	add("plain PKCE", "code_challenge_method", "plain")
	add("bad challenge", "code_challenge", nasty)
	add("state too long", "state", strings.Repeat("s", maxStateLen+1))
	repeated := url.Values{}
	for k, vs := range base {
		repeated[k] = vs
	}
	repeated["state"] = []string{"a", "b"}
	redirects["repeated state"] = repeated
	for name, v := range redirects {
		r := e.get(browser(t), "/oauth/authorize?"+v.Encode())
		loc, err := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusSeeOther || err != nil || loc.Query().Get("error") == "" {
			t.Errorf("%s: want a redirected error, got %d %v", name, r.status, r.header)
			continue
		}
		for _, k := range []string{"error", "error_description"} {
			if d := loc.Query().Get(k); !rfc6749Text.MatchString(d) {
				t.Errorf("%s: %s %q is outside RFC 6749's character set", name, k, d)
			}
		}
	}
}

// FuzzSanitizeDescription: whatever the input, the output is within RFC
// 6749's set and bounded.
func FuzzSanitizeDescription(f *testing.F) {
	for _, s := range []string{"", `parameter "grant_type" is repeated`, "é\\\"\x00\x7f", strings.Repeat("x", 500)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := sanitizeDescription(s)
		if !rfc6749Text.MatchString(out) || len(out) > maxDescriptionLen {
			t.Fatalf("sanitizeDescription(%q) = %q", s, out)
		}
	})
}

// TestTokenEndpointUnavailable: a database outage on /oauth/token is a 503
// temporarily_unavailable with Retry-After, in RFC 6749 form.
func TestTokenEndpointUnavailable(t *testing.T) {
	d := dbtest.SQLite(t)
	e := newEnv(t, d)
	d.Close()
	r, m := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {e.public.ID}}, false)
	if r.status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("database closed: %d %v %v", r.status, m, r.header)
	}
}

// TestMetadataFromConfigOnly (finding #11): the RFC 8414 document never
// reflects the request's Host or X-Forwarded-* headers. With a public URL
// (or an http(s) JWT issuer) configured it is built from that; with
// neither it is a 404 problem, and authorization responses carry no iss.
func TestMetadataFromConfigOnly(t *testing.T) {
	fetch := func(e *env) (answer, map[string]any) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/.well-known/oauth-authorization-server", nil)
		req.Host = "evil.example"
		req.Header.Set("X-Forwarded-Host", "evil.example")
		req.Header.Set("X-Forwarded-Proto", "https")
		r := do(t, http.DefaultClient, req)
		var m map[string]any
		_ = json.Unmarshal([]byte(r.body), &m)
		if strings.Contains(r.body, "evil") {
			t.Fatalf("metadata reflects the request: %d %s", r.status, r.body)
		}
		return r, m
	}
	d := dbtest.SQLite(t)
	if r, m := fetch(newEnvWith(t, d, "", "https://api.example.com/")); r.status != 200 || m["issuer"] != "https://api.example.com" ||
		m["token_endpoint"] != "https://api.example.com/oauth/token" || m["jwks_uri"] != "https://api.example.com/.well-known/jwks.json" {
		t.Fatalf("public URL: %d %v", r.status, m)
	}
	if r, m := fetch(newEnvWith(t, dbtest.SQLite(t), "https://id.example.com", "")); r.status != 200 || m["issuer"] != "https://id.example.com" ||
		m["authorization_endpoint"] != "https://id.example.com/oauth/authorize" {
		t.Fatalf("issuer URL only: %d %v", r.status, m)
	}
	bare := newEnvWith(t, dbtest.SQLite(t), "", "")
	if r, _ := fetch(bare); r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("nothing configured: %d %v %s", r.status, r.header, r.body)
	}
	u := bare.approve(map[string]string{"response_type": "code", "client_id": bare.conf.ID, "redirect_uri": confRedirect, "scope": "chantiers:read"})
	if u.Query().Get("code") == "" || u.Query().Has("iss") {
		t.Fatalf("unconfigured issuer: redirect %s", u)
	}
}
