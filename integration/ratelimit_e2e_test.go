package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// rlStack is one upstream and gateways running the repository's Caddyfile
// with a Redis key prefix of their own (so runs never share counters).
type rlStack struct {
	*stack
	dir      string
	config   string
	redisURL string
	// redisPrefix is the key prefix every gateway of the stack shares.
	redisPrefix string
}

func newRLStack(t *testing.T, redis bool) *rlStack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	s := &rlStack{dir: t.TempDir()}
	if redis {
		s.redisURL = os.Getenv("HUB_TEST_REDIS_URL")
		if s.redisURL == "" {
			t.Skip("Redis end-to-end tests skipped: set HUB_TEST_REDIS_URL to run them")
		}
	}
	src, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if redis {
		s.redisPrefix = harness.RedisPrefix(t, s.redisURL, "rle2e")
	}
	cfg := string(src)
	s.config = filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: s.dir}
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
	s.stack = &stack{t: t, up: up, secret: opts.Secret, client: &http.Client{Timeout: 15 * time.Second}}
	return s
}

// gateway starts one more gateway on the stack, with env (rate limits).
func (s *rlStack) gateway(env ...string) *harness.Gateway {
	s.t.Helper()
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.up.Addr, Secret: s.secret, RedisURL: s.redisURL,
		RedisPrefix: s.redisPrefix, Dir: s.dir, Caddyfile: s.config, ExtraEnv: env})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		gw.Stop()
		if s.t.Failed() {
			s.t.Logf("gateway log tail:\n%s", gw.Tail(3000))
		}
	})
	if s.gw == nil {
		s.gw = gw
	}
	return gw
}

// userID creates a user with the CLI and returns its id.
func (s *rlStack) userID(email, role string) string {
	s.t.Helper()
	out := s.cli("user", "create", "--email", email, "--password", "correct-horse-battery", "--role", role, "--nom", strings.Split(email, "@")[0])
	var id int
	if _, err := fmt.Sscanf(out, "user %d created", &id); err != nil {
		s.t.Fatalf("user create: unexpected output %q", out)
	}
	return strconv.Itoa(id)
}

// checkRateLimited checks a 429 answer: problem body, Retry-After within
// (0, max], the draft fields and the X-RateLimit-* trio.
func checkRateLimited(t *testing.T, r response, policy string, q, w int, maxRetry int) {
	t.Helper()
	if r.status != 429 {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q", ct)
	}
	p := r.json(t)
	if p["type"] != "urn:hubchantier:problem:rate-limited" || p["status"] != float64(429) || p["policy"] != policy {
		t.Fatalf("problem %s", r.body)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > maxRetry {
		t.Fatalf("Retry-After %q, want 1..%d", r.header.Get("Retry-After"), maxRetry)
	}
	wantPolicy := fmt.Sprintf(`"%s";q=%d;w=%d`, policy, q, w)
	if !strings.Contains(r.header.Get("RateLimit-Policy"), wantPolicy) {
		t.Fatalf("RateLimit-Policy %q lacks %s", r.header.Get("RateLimit-Policy"), wantPolicy)
	}
	if !strings.Contains(r.header.Get("RateLimit"), fmt.Sprintf(`"%s";r=0;t=`, policy)) {
		t.Fatalf("RateLimit %q: want r=0 for %s", r.header.Get("RateLimit"), policy)
	}
	if r.header.Get("X-RateLimit-Limit") != strconv.Itoa(q) || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("X-RateLimit-Limit %q Remaining %q", r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"))
	}
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if now := time.Now().Unix(); err != nil || reset < now || reset > now+int64(w)+5 {
		t.Fatalf("X-RateLimit-Reset %q not a Unix time within the window", r.header.Get("X-RateLimit-Reset"))
	}
}

// TestRateLimitTwoInstancesExact fires concurrent requests with one key at
// two gateways sharing Redis: exactly N of them are admitted.
func TestRateLimitTwoInstancesExact(t *testing.T) {
	const limit, perGateway = 25, 40
	s := newRLStack(t, true)
	env := []string{"HUB_RATE_LIMIT=" + strconv.Itoa(limit) + "/hour"}
	gws := []*harness.Gateway{s.gateway(env...), s.gateway(env...)}
	s.createUser("erp@example.com", "conducteur")
	jwt := s.login("erp@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "erp", "scopes": []string{"read"}})

	var mu sync.Mutex
	counts := map[int]int{}
	var limited response
	var wg sync.WaitGroup
	for _, gw := range gws {
		for i := 0; i < perGateway; i++ {
			wg.Add(1)
			go func(url string) {
				defer wg.Done()
				req, _ := http.NewRequest("GET", url+"/api/v1/chantiers?limit=1", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := s.client.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.StatusCode]++
				if resp.StatusCode == 429 && limited.status == 0 {
					limited = response{status: 429, header: resp.Header, body: body}
				}
				mu.Unlock()
			}(gw.URL)
		}
	}
	wg.Wait()
	if counts[200] != limit || counts[429] != 2*perGateway-limit {
		t.Fatalf("answers %v, want exactly %d×200 and %d×429", counts, limit, 2*perGateway-limit)
	}
	checkRateLimited(t, limited, "per-key", limit, 3600, 3600/limit)

	// Both instances refuse from now on, and count the refusals.
	for _, gw := range gws {
		r := s.do("GET", gw.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...)
		checkRateLimited(t, r, "per-key", limit, 3600, 3600/limit)
		m := s.do("GET", gw.MetricsURL, nil)
		if !strings.Contains(string(m.body), `api_rate_limit_exceeded_total{rule="per-key"}`) {
			t.Fatalf("metrics of %s lack api_rate_limit_exceeded_total{rule=\"per-key\"}", gw.URL)
		}
	}
}

// TestRateLimitEndToEnd checks, on the memory and Redis stores, the login
// limit per IP, a key's own rate_limit set by an admin, and the fields on
// admitted answers.
func TestRateLimitEndToEnd(t *testing.T) {
	for _, redis := range []bool{false, true} {
		name := map[bool]string{false: "memory", true: "redis"}[redis]
		t.Run(name, func(t *testing.T) {
			s := newRLStack(t, redis)
			gw := s.gateway("HUB_LOGIN_RATE_LIMIT=5/minute", "HUB_RATE_LIMIT=1000/hour", "HUB_USER_RATE_LIMIT=5000/hour")
			adminID := s.userID("admin@example.com", "admin")
			ownerID := s.userID("owner@example.com", "ouvrier")
			_ = adminID

			// Login: 5 a minute per client IP, wrong passwords included.
			jwt := s.login("admin@example.com", "correct-horse-battery")
			for i := 0; i < 4; i++ {
				r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "admin@example.com", "password": "wrong-password"})
				if r.status != 401 {
					t.Fatalf("login %d: %d %s", i+2, r.status, r.body)
				}
				if got, want := r.header.Get("RateLimit"), fmt.Sprintf(`"login";r=%d;`, 3-i); !strings.Contains(got, want) {
					t.Fatalf("login %d: RateLimit %q lacks %s", i+2, got, want)
				}
			}
			r := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "admin@example.com", "password": "correct-horse-battery"})
			checkRateLimited(t, r, "login", 5, 60, 12)

			// A key with its own rate_limit, created by an admin.
			r = s.gwDo("POST", "/api/v1/admin/api-keys", map[string]any{
				"user_id": ownerID, "name": "pointeuse", "scopes": []string{"read"}, "rate_limit": "3/minute",
			}, bearer(jwt)...)
			if r.status != 201 {
				t.Fatalf("admin create key: %d %s", r.status, r.body)
			}
			key, _ := r.json(t)["key"].(string)
			for i := 0; i < 3; i++ {
				r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(key)...)
				if r.status != 200 {
					t.Fatalf("request %d with a 3/minute key: %d %s", i+1, r.status, r.body)
				}
				// The key's own rate replaces the default; the shipped
				// per_user quota applies on top.
				if got := r.header.Get("RateLimit-Policy"); got != `"per-key";q=3;w=60, "per-user";q=5000;w=3600` {
					t.Fatalf("RateLimit-Policy %q", got)
				}
				if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(2-i) {
					t.Fatalf("X-RateLimit-Remaining %q, want %d", got, 2-i)
				}
			}
			r = s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(key)...)
			checkRateLimited(t, r, "per-key", 3, 60, 20)

			// The admin's JWT has the default policy, untouched by the key.
			r = s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(jwt)...)
			if r.status != 200 || r.header.Get("RateLimit-Policy") != `"per-key";q=1000;w=3600, "per-user";q=5000;w=3600` {
				t.Fatalf("admin JWT: %d policy %q", r.status, r.header.Get("RateLimit-Policy"))
			}
			// Health checks are not counted.
			if r := s.gwDo("GET", "/healthz", nil); r.status != 200 || r.header.Get("RateLimit") != "" {
				t.Fatalf("healthz: %d RateLimit %q", r.status, r.header.Get("RateLimit"))
			}
			_ = gw
		})
	}
}
