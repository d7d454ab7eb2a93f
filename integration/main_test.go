// Package integration holds the end-to-end suite: the real hubchantier and
// hubgate binaries on free loopback ports, driven with net/http.
package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// stack is one upstream and one gateway.
type stack struct {
	t      *testing.T
	up     *harness.Upstream
	gw     *harness.Gateway
	secret string
	client *http.Client
}

// backend names one storage × store combination.
type backend struct {
	name     string
	postgres bool
	redis    bool
}

var backends = []backend{
	{"sqlite+memory", false, false},
	{"sqlite+redis", false, true},
	{"postgres+memory", true, false},
	{"postgres+redis", true, true},
}

// newStack starts a fresh upstream (fresh database) and a gateway; gwEnv
// (NAME=value) is added to the gateway's environment.
func newStack(t *testing.T, b backend, gwEnv ...string) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := t.TempDir()
	opts := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: dir}
	if b.postgres {
		opts.DSN = postgresURL(t)
	}
	redisURL := ""
	if b.redis {
		redisURL = os.Getenv("HUB_TEST_REDIS_URL")
		if redisURL == "" {
			t.Skip("Redis end-to-end tests skipped: set HUB_TEST_REDIS_URL to run them")
		}
	}
	up, err := harness.StartUpstream(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		up.Stop()
		if t.Failed() {
			t.Logf("upstream log tail:\n%s", up.Tail(3000))
		}
	})
	prefix := ""
	if redisURL != "" {
		prefix = harness.RedisPrefix(t, redisURL, "e2e")
	}
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: opts.Secret, RedisURL: redisURL, RedisPrefix: prefix, Dir: dir, ExtraEnv: gwEnv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", gw.Tail(3000))
		}
	})
	return &stack{t: t, up: up, gw: gw, secret: opts.Secret, client: &http.Client{Timeout: 15 * time.Second}}
}

// cli runs hubchantier against the stack's database.
func (s *stack) cli(args ...string) string {
	s.t.Helper()
	out, err := harness.RunCLI(s.up.Env, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body not JSON: %v: %s", r.status, err, r.body)
	}
	return m
}

// do sends a request to base+path with the given headers (pairs) and body.
func (s *stack) do(method, url string, body any, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// gw sends a request through the gateway.
func (s *stack) gwDo(method, path string, body any, headers ...string) response {
	s.t.Helper()
	return s.do(method, s.gw.URL+path, body, headers...)
}

// login returns a user JWT through the gateway.
func (s *stack) login(email, password string) string {
	s.t.Helper()
	r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": email, "password": password})
	if r.status != 200 {
		s.t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	tok, _ := r.json(s.t)["access_token"].(string)
	if tok == "" {
		s.t.Fatalf("login: no access_token in %s", r.body)
	}
	return tok
}

// createUser makes a user with the CLI.
func (s *stack) createUser(email, role string) {
	s.t.Helper()
	s.cli("user", "create", "--email", email, "--password", "correct-horse-battery", "--role", role, "--nom", strings.Split(email, "@")[0])
}

// createKey makes an API key through the gateway with a user JWT.
func (s *stack) createKey(jwt string, body map[string]any) (id, key string) {
	s.t.Helper()
	r := s.gwDo("POST", "/api/auth/api-keys", body, "Authorization", "Bearer "+jwt)
	if r.status != 201 {
		s.t.Fatalf("create key: %d %s", r.status, r.body)
	}
	m := r.json(s.t)
	id, _ = m["id"].(string)
	key, _ = m["key"].(string)
	if id == "" || !strings.HasPrefix(key, "hbc_") {
		s.t.Fatalf("create key: bad answer %s", r.body)
	}
	return id, key
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// eventually polls f every 20 ms until it is true or d passes; it returns
// how long it took.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if f() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not true within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func postgresURL(t *testing.T) string {
	t.Helper()
	return pgSchemaURL(t)
}
