package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestRedisAuthTLS: the shared store over rediss:// with a password. A
// gateway trusting the server's certificate (SSL_CERT_FILE) keeps its
// rate-limit counters there (exact: the 4th request of a 3/minute key is
// refused, and the counters are in Redis); a wrong password or an
// untrusted certificate shows as a failing store on /healthz/gateway.
func TestRedisAuthTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	password := harness.NewSecret()[:24]
	srv, err := harness.StartRedisTLS(t.TempDir(), password)
	if errors.Is(err, harness.ErrSkip) {
		t.Skipf("NOTICE: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)

	s := newStack(t, backends[0], "HUB_REDIS_URL="+srv.URL(), "SSL_CERT_FILE="+srv.CAFile)
	if r := s.gwDo("GET", "/healthz/gateway", nil); r.status != 200 {
		t.Fatalf("health over rediss://: %d %s", r.status, r.body)
	}
	s.createUser("admin@example.com", "admin")
	jwt := s.login("admin@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "tls", "scopes": []string{"read"}, "rate_limit": "3/minute"})
	var got []int
	for range 4 {
		got = append(got, s.gwDo("GET", "/api/v1/chantiers", nil, bearer(key)...).status)
	}
	if strconv.Itoa(got[0])+strconv.Itoa(got[2])+strconv.Itoa(got[3]) != "200200429" {
		t.Fatalf("a 3/minute key over the TLS store: %v", got)
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(srv.CAFile)
	pool.AppendCertsFromPEM(ca)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(srv.Port), Password: password,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	defer c.Close()
	if n, err := c.DBSize(context.Background()).Result(); err != nil || n == 0 {
		t.Fatalf("no counters in the TLS Redis: %d keys, %v", n, err)
	}

	for name, env := range map[string][]string{
		"wrong password":        {"HUB_REDIS_URL=rediss://:wrong@localhost:" + strconv.Itoa(srv.Port) + "/0", "SSL_CERT_FILE=" + srv.CAFile},
		"untrusted certificate": {"HUB_REDIS_URL=" + srv.URL(), "SSL_CERT_FILE=/nonexistent"},
	} {
		gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.up.Addr, Secret: s.secret, Dir: t.TempDir(), ExtraEnv: env})
		if err != nil {
			t.Fatal(err)
		}
		r := s.do("GET", gw.URL+"/healthz/gateway", nil)
		gw.Stop()
		if p := reprProblem(t, r, 503, "unhealthy"); p["checks"].(map[string]any)["store"] != "failing" {
			t.Errorf("%s: %s", name, r.body)
		}
	}
}
