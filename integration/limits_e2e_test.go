package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hubchantier/hubgate/integration/harness"
)

// Issue 10 (hardening), the gateway's limits: shared password bucket (#3),
// OAuth principals (#7), failed authentications (#8), per-user quota (#12),
// OAuth-format gateway errors and upstream-unavailable 503s.

// oauthDescription is RFC 6749 §5.2's error_description character set.
var oauthDescription = regexp.MustCompile(`^[\x20\x21\x23-\x5B\x5D-\x7E]*$`)

// TestPasswordEndpointsShareLoginLimit: POST /api/auth/login and the OAuth
// login form both check passwords; from one client IP they share the one
// login bucket (5/minute), so three tries on each make the sixth a 429.
func TestPasswordEndpointsShareLoginLimit(t *testing.T) {
	s := newRLStack(t, false)
	s.gateway("HUB_LOGIN_RATE_LIMIT=5/minute")
	s.createUser("victim@example.com", "ouvrier")
	form := url.Values{"email": {"victim@example.com"}, "password": {"guess"}, "csrf_token": {"x"},
		"client_id": {"x"}, "redirect_uri": {"http://127.0.0.1/cb"}, "response_type": {"code"}}
	var last response
	for i := 0; i < 3; i++ {
		if r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "victim@example.com", "password": "guess"}); r.status != 401 {
			t.Fatalf("api login %d: %d %s", i+1, r.status, r.body)
		}
		resp, err := s.client.PostForm(s.gw.URL+"/oauth/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = response{status: resp.StatusCode, header: resp.Header}
		if i < 2 && resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("oauth login %d refused already", i+1)
		}
	}
	if last.status != http.StatusTooManyRequests || !strings.Contains(last.header.Get("RateLimit-Policy"), `"login";q=5;w=60`) {
		t.Fatalf("6th password attempt (POST /oauth/login): %d, RateLimit-Policy %q", last.status, last.header.Get("RateLimit-Policy"))
	}
	r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "victim@example.com", "password": "guess"})
	checkRateLimited(t, r, "login", 5, 60, 12)
}

// introspectCounter forwards to the upstream and counts the introspections the
// gateway asks for.
type introspectCounter struct {
	srv         *httptest.Server
	introspects atomic.Int64
}

func newIntrospectCounter(t *testing.T, upstream string) *introspectCounter {
	t.Helper()
	target, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(target)
	// Canceled long polls (the revocation feed at shutdown) are not news.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p := &introspectCounter{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/internal/introspect" {
			p.introspects.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// randomKey is a well-formed API key of a random (unknown) id.
func randomKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12+43)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "hbc_" + string(b[:12]) + "_" + strings.ToUpper(string(b[12:]))
}

// TestUnknownKeysBounded: 300 random well-formed keys from one client IP
// cost the upstream a bounded number of introspections (the failed_auth
// limit, 20/minute, then 429s), and a valid key from that IP is refused
// only while the IP is throttled.
func TestUnknownKeysBounded(t *testing.T) {
	s := newRLStack(t, false)
	proxy := newIntrospectCounter(t, s.up.Addr)
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: strings.TrimPrefix(proxy.srv.URL, "http://"), Secret: s.secret,
		Dir: s.dir, Caddyfile: s.config, ExtraEnv: []string{"HUB_FAILED_AUTH_LIMIT=20/minute", "HUB_RATE_LIMIT=100000/hour"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", gw.Tail(3000))
		}
	})
	s.gw = gw
	counts := map[int]int{}
	var throttled response
	for i := 0; i < 300; i++ {
		r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(randomKey())...)
		counts[r.status]++
		if r.status == http.StatusTooManyRequests && throttled.status == 0 {
			throttled = r
		}
	}
	n := proxy.introspects.Load()
	t.Logf("300 unknown keys: statuses %v, %d introspections", counts, n)
	if n > 25 {
		t.Fatalf("300 unknown keys cost %d introspections, want at most the failed_auth limit (20) and a few", n)
	}
	if counts[http.StatusTooManyRequests] < 250 || counts[http.StatusUnauthorized] < 20 {
		t.Fatalf("statuses %v: want 20 401s then 429s", counts)
	}
	p := throttled.json(t)
	retry, err := strconv.Atoi(throttled.header.Get("Retry-After"))
	if p["type"] != "urn:hubchantier:problem:auth-rate-limited" || err != nil || retry < 1 || retry > 3 ||
		!strings.HasPrefix(throttled.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("429: Retry-After %q %s", throttled.header.Get("Retry-After"), throttled.body)
	}
}

// TestPerUserQuotaAcrossKeys: the shipped per_user quota counts all of a
// user's keys together, so two keys do not double it.
func TestPerUserQuotaAcrossKeys(t *testing.T) {
	s := newRLStack(t, true)
	s.gateway("HUB_USER_RATE_LIMIT=12/minute", "HUB_RATE_LIMIT=1000/hour")
	s.createUser("erp@example.com", "conducteur")
	jwt := s.login("erp@example.com", "correct-horse-battery")
	_, keyA := s.createKey(jwt, map[string]any{"name": "a", "scopes": []string{"read"}})
	_, keyB := s.createKey(jwt, map[string]any{"name": "b", "scopes": []string{"read"}})
	remaining := -1
	ok := 0
	for i := 0; i < 20; i++ {
		key := []string{keyA, keyB}[i%2]
		r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(key)...)
		if r.status == http.StatusTooManyRequests {
			checkRateLimited(t, r, "per-user", 12, 60, 10)
			if ok != remaining+1 {
				t.Fatalf("refused after %d requests, the per-user quota had %d left after the first", ok, remaining)
			}
			return
		}
		if r.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
		if remaining < 0 {
			m := regexp.MustCompile(`"per-user";r=(\d+)`).FindStringSubmatch(r.header.Get("RateLimit"))
			if m == nil {
				t.Fatalf("RateLimit %q has no per-user window", r.header.Get("RateLimit"))
			}
			remaining, _ = strconv.Atoi(m[1])
		}
		ok++
	}
	t.Fatalf("20 requests with two keys of one user, none refused by the 12/minute per-user quota")
}

// TestOAuthGatewayErrors: the gateway's own 429 on /oauth/token is an RFC
// 6749 error that golang.org/x/oauth2 parses, with Retry-After.
func TestOAuthGatewayErrors(t *testing.T) {
	s := newRLStack(t, false)
	s.gateway()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {"nope"}}
	for i := 0; i < 30; i++ { // the shipped oauth-token rule: 30/minute per IP
		st, _, _ := s.tokenForm(form, "", "")
		if st == http.StatusTooManyRequests {
			t.Fatalf("token request %d refused already", i+1)
		}
	}
	cfg := &oauth2.Config{ClientID: "nope", Endpoint: oauth2.Endpoint{TokenURL: s.gw.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.client)
	_, err := cfg.Exchange(ctx, "nope")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("exchange: %v", err)
	}
	if re.ErrorCode != "temporarily_unavailable" || !oauthDescription.MatchString(re.ErrorDescription) || re.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("429 as x/oauth2 reads it: code %q description %q Retry-After %q body %s",
			re.ErrorCode, re.ErrorDescription, re.Response.Header.Get("Retry-After"), re.Body)
	}
	var body map[string]any
	if json.Unmarshal(re.Body, &body) != nil || len(body) != 2 {
		t.Fatalf("body %s: want exactly error and error_description", re.Body)
	}
}

// TestUpstreamUnavailable503s: with the upstream down, the 503 of hub_auth
// (a key that cannot be verified) and that of the passive health checks
// ("no upstreams available") carry Retry-After and the one problem type
// upstream-unavailable (the breaker's is checked in TestBreakerE2E).
func TestUpstreamUnavailable503s(t *testing.T) {
	s := newRLStack(t, false)
	s.gateway()
	s.up.Stop()
	check := func(what string, r response) {
		t.Helper()
		retry, err := strconv.Atoi(r.header.Get("Retry-After"))
		p := r.json(t)
		if r.status != 503 || err != nil || retry < 1 || p["type"] != "urn:hubchantier:problem:upstream-unavailable" ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s: %d Retry-After %q %s", what, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	check("key that cannot be introspected", s.gwDo("GET", "/api/v1/chantiers", nil, bearer(randomKey())...))
	var last response
	eventually(t, 30*time.Second, "passive health checks mark the upstream down", func() bool {
		last = s.gwDo("GET", "/healthz", nil)
		return last.status == 503
	})
	check("no upstreams available", last)
	st, hdr, m := s.tokenForm(url.Values{"grant_type": {"refresh_token"}}, "", "")
	if st != 503 || m["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
		t.Fatalf("/oauth/token with the upstream down: %d %v Retry-After %q", st, m, hdr.Get("Retry-After"))
	}
}
