package harness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// UpstreamOptions configures a hubchantier process.
type UpstreamOptions struct {
	// DSN is HUB_DB: a SQLite path (default: a file in Dir) or a postgres:// URL.
	DSN string
	// Secret is HUB_GATEWAY_SECRET.
	Secret string
	// Dir holds logs and the SQLite file.
	Dir string
	// ExtraEnv is appended to the environment (NAME=value).
	ExtraEnv []string
}

// Upstream is a running hubchantier.
type Upstream struct {
	*Proc
	Addr string // host:port
	Env  []string
}

// NewSecret returns a random 64-hex-character shared secret.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StartUpstream migrates the database and starts `hubchantier serve`.
func StartUpstream(o UpstreamOptions) (*Upstream, error) {
	dir, err := Binaries()
	if err != nil {
		return nil, err
	}
	if o.DSN == "" {
		o.DSN = filepath.Join(o.Dir, "hub.db")
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := append([]string{"HUB_ADDR=" + addr, "HUB_DB=" + o.DSN, "HUB_GATEWAY_SECRET=" + o.Secret}, o.ExtraEnv...)
	if _, err := RunCLI(env, "migrate"); err != nil {
		return nil, err
	}
	p, err := Start(o.Dir, "hubchantier-"+strconv.Itoa(port), filepath.Join(dir, "hubchantier"), append(env, o.ExtraEnv...), "serve")
	if err != nil {
		return nil, err
	}
	if err := WaitHTTP("http://"+addr+"/healthz", 30*time.Second, p); err != nil {
		p.Kill()
		return nil, err
	}
	return &Upstream{Proc: p, Addr: addr, Env: env}, nil
}

// GatewayOptions configures a hubgate process running the repo's Caddyfile.
type GatewayOptions struct {
	Upstream string // host:port of hubchantier
	Secret   string
	RedisURL string // empty: memory store
	// RedisPrefix is the store's key prefix (HUB_REDIS_PREFIX; RedisPrefix
	// makes one a test cleans up); empty: the Caddyfile's default.
	RedisPrefix string
	Dir         string
	// Caddyfile overrides the repository's default Caddyfile (a path).
	Caddyfile string
	// ExtraEnv is appended to the environment.
	ExtraEnv []string
}

// Gateway is a running hubgate.
type Gateway struct {
	*Proc
	URL        string // http://127.0.0.1:port
	MetricsURL string
	AdminAddr  string
}

// StartGateway starts `hubgate run` with the default (or given) Caddyfile.
func StartGateway(o GatewayOptions) (*Gateway, error) {
	dir, err := Binaries()
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	cfg := o.Caddyfile
	if cfg == "" {
		cfg = filepath.Join(RepoRoot(), "Caddyfile")
	}
	home := filepath.Join(o.Dir, fmt.Sprintf("caddy-%d", ports[0]))
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	env := append([]string{
		// Everything in tests and benchmarks comes from 127.0.0.1 with a few
		// keys: the production defaults (1000/hour per key, 5000/hour per
		// user, 5 logins a minute and 20 failed authentications a minute
		// per IP) would throttle the suite. Tests of the limits set them in
		// ExtraEnv, which comes last and wins.
		"HUB_RATE_LIMIT=1000000/second",
		"HUB_USER_RATE_LIMIT=1000000/second",
		"HUB_LOGIN_RATE_LIMIT=1000/second",
		"HUB_FAILED_AUTH_LIMIT=1000000/second",
		"HUB_LISTEN=:" + strconv.Itoa(ports[0]),
		"HUB_METRICS_LISTEN=:" + strconv.Itoa(ports[1]),
		"HUB_ADMIN_LISTEN=127.0.0.1:" + strconv.Itoa(ports[2]),
		"HUB_UPSTREAM=" + o.Upstream,
		"HUB_GATEWAY_SECRET=" + o.Secret,
		"HUB_REDIS_URL=" + o.RedisURL,
		"XDG_CONFIG_HOME=" + home,
		"XDG_DATA_HOME=" + home,
	}, o.ExtraEnv...)
	if o.RedisPrefix != "" {
		env = append(env, "HUB_REDIS_PREFIX="+o.RedisPrefix)
	}
	p, err := Start(o.Dir, "hubgate-"+strconv.Itoa(ports[0]), filepath.Join(dir, "hubgate"), env,
		"run", "--config", cfg, "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		Proc:       p,
		URL:        "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		MetricsURL: "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/metrics",
		AdminAddr:  "127.0.0.1:" + strconv.Itoa(ports[2]),
	}
	if err := WaitHTTP(g.URL+"/healthz", 60*time.Second, p); err != nil {
		p.Kill()
		return nil, err
	}
	return g, nil
}
