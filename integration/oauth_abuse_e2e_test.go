package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fromIP returns an HTTP client whose connections leave from the loopback
// address ip (Linux routes all of 127.0.0.0/8 to lo), so the gateway sees
// distinct client addresses without trusting any forwarded header. With
// jar set it keeps cookies and does not follow redirects, like the
// browser of authorizeInBrowser.
func fromIP(ip string, jar bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	if jar {
		c.Jar, _ = cookiejar.New(nil)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// send does one request with c and returns status, headers and body.
func send(t *testing.T, c *http.Client, method, u, ctype, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const formType = "application/x-www-form-urlencoded"

var rfc6749Chars = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]*$`)

// TestOAuthAbuseEndToEnd replays issue 10's findings #3, #6 and #11 through
// the real binaries, with attacker and user on different loopback
// addresses: guessing a password slows down that account from the
// attacker's address only, on both password endpoints; ten bad secrets from
// the attacker do not lock a confidential client out; the metadata ignores
// Host; the upstream's OAuth errors are RFC 6749 JSON within its charset.
func TestOAuthAbuseEndToEnd(t *testing.T) {
	t.Setenv("HUB_PUBLIC_URL", "https://hub.example.test")
	s := newStack(t, backends[0])
	s.createUser("alice@example.com", "conducteur")
	const pw = "correct-horse-battery"
	attacker, user := fromIP("127.0.0.2", false), fromIP("127.0.0.3", false)
	pub := s.createOAuthClient("--name", "Calendar sync", "--redirect-uri", "http://127.0.0.1/cb", "--scopes", "chantiers:read", "--public")
	conf := s.createOAuthClient("--name", "ERP", "--redirect-uri", "https://erp.example.com/cb", "--scopes", "chantiers:read")

	t.Run("login throttle per account and address", func(t *testing.T) {
		login := func(c *http.Client, password string) (int, http.Header, string) {
			b, _ := json.Marshal(map[string]string{"email": "alice@example.com", "password": password})
			return send(t, c, "POST", s.gw.URL+"/api/auth/login", "application/json", string(b))
		}
		for i := 0; i < 5; i++ {
			if st, _, body := login(attacker, "guess-"+strconv.Itoa(i)); st != 401 {
				t.Fatalf("guess %d: %d %s", i, st, body)
			}
		}
		st, h, body := login(attacker, pw)
		if ra, _ := strconv.Atoi(h.Get("Retry-After")); st != 429 || ra < 1 || h.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("6th attempt from the attacker's address: %d %v %s", st, h, body)
		}
		if st, _, body := login(user, pw); st != 200 {
			t.Fatalf("alice from her own address is locked out: %d %s", st, body)
		}
		// The authorization page's sign-in form shares the throttle.
		b := fromIP("127.0.0.2", true)
		q := url.Values{"response_type": {"code"}, "client_id": {pub.ID}, "redirect_uri": {"http://127.0.0.1/cb"}, "scope": {"chantiers:read"},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
		st, h, page := send(t, b, "GET", s.gw.URL+"/oauth/authorize?"+q.Encode(), "", "")
		if sc := h.Get("Set-Cookie"); st != 200 || !strings.HasPrefix(sc, "__Host-hub_oauth_login=") || !strings.Contains(sc, "; Secure") ||
			!strings.Contains(sc, "Path=/;") || !strings.Contains(sc, "SameSite=Lax") {
			t.Fatalf("authorize: %d Set-Cookie %q", st, sc)
		}
		form := formOf(t, page)
		form.Set("email", "alice@example.com")
		form.Set("password", pw)
		st, h, _ = send(t, b, "POST", s.gw.URL+"/oauth/login", formType, form.Encode())
		if st != 429 || h.Get("Retry-After") == "" {
			t.Fatalf("/oauth/login from the attacker's address: %d %v", st, h)
		}
		// Alice's browser, elsewhere, signs in and gets a __Host- session
		// (the public URL is https).
		loc := s.authorizeInBrowser(s.gw.URL+"/oauth/authorize?"+q.Encode(), "alice@example.com", pw)
		if loc.Query().Get("code") == "" || loc.Query().Get("iss") != "https://hub.example.test" {
			t.Fatalf("alice's authorization: %s", loc)
		}
	})

	t.Run("client lockout by client_id", func(t *testing.T) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"bogus"}}.Encode()
		for i := 0; i < 10; i++ {
			req, _ := http.NewRequest("GET", "/", nil)
			req.SetBasicAuth(conf.ID, "not-the-secret")
			if st, _, body := send(t, attacker, "POST", s.gw.URL+"/oauth/token", formType, form, "Authorization", req.Header.Get("Authorization")); st != 401 {
				t.Fatalf("bad secret %d: %d %s", i, st, body)
			}
		}
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(conf.ID, "not-the-secret")
		st, h, body := send(t, attacker, "POST", s.gw.URL+"/oauth/token", formType, form, "Authorization", req.Header.Get("Authorization"))
		if st != 429 || h.Get("Retry-After") == "" || h.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error"`) {
			t.Fatalf("attacker after 10 failures: %d %v %s", st, h, body)
		}
		req.SetBasicAuth(conf.ID, conf.Secret)
		st, _, body = send(t, user, "POST", s.gw.URL+"/oauth/token", formType, form, "Authorization", req.Header.Get("Authorization"))
		if st != 400 || !strings.Contains(body, "invalid_grant") {
			t.Fatalf("the client with its secret, from its own address: %d %s", st, body)
		}
	})

	t.Run("metadata ignores Host", func(t *testing.T) {
		st, h, body := send(t, user, "GET", s.gw.URL+"/.well-known/oauth-authorization-server", "", "", "Host", "evil.example",
			"X-Forwarded-Host", "evil.example")
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		if st != 200 || strings.Contains(body, "evil") || m["issuer"] != "https://hub.example.test" ||
			m["token_endpoint"] != "https://hub.example.test/oauth/token" {
			t.Fatalf("metadata: %d %v %s", st, h, body)
		}
	})

	t.Run("upstream OAuth errors are RFC 6749 JSON", func(t *testing.T) {
		for _, c := range []struct {
			name, method, body string
			status             int
		}{
			{"repeated grant_type", "POST", "grant_type=refresh_token&grant_type=x&client_id=" + pub.ID, 400},
			{"odd client_id", "POST", "grant_type=refresh_token&refresh_token=x&client_id=" + url.QueryEscape(`a"b\é`), 401},
			{"GET", "GET", "", 405},
		} {
			st, h, body := send(t, user, c.method, s.gw.URL+"/oauth/token", formType, c.body)
			var m map[string]string
			if st != c.status || h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &m) != nil || m["error"] == "" {
				t.Fatalf("%s: %d %s %s", c.name, st, h.Get("Content-Type"), body)
			}
			if !rfc6749Chars.MatchString(m["error_description"]) {
				t.Fatalf("%s: error_description %q outside RFC 6749's charset", c.name, m["error_description"])
			}
		}
	})
}

// TestOAuthMetadataUnconfigured: with neither HUB_PUBLIC_URL nor an http(s)
// HUB_JWT_ISSUER the upstream publishes no metadata (404 problem) rather
// than endpoints built from the Host header.
func TestOAuthMetadataUnconfigured(t *testing.T) {
	t.Setenv("HUB_PUBLIC_URL", "")
	s := newStack(t, backends[0])
	st, h, body := send(t, s.client, "GET", s.gw.URL+"/.well-known/oauth-authorization-server", "", "", "Host", "evil.example")
	if st != 404 || strings.Contains(body, "evil") || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unconfigured metadata: %d %v %s", st, h, body)
	}
}
