package main

import (
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/internal/assertion"
)

// Env is what every row shares: one seeded upstream, its secret, an admin
// API key, and helpers to start gateways.
type Env struct {
	Dir      string
	Secret   string
	Upstream *harness.Upstream
	// Key is an API key of an admin user with every scope.
	Key string
	// RedisURL is HUB_TEST_REDIS_URL (rows that need Redis skip without it).
	RedisURL string

	stops []func()
	// pin: servers go to CPU 0 (see main).
	pin bool
	// pids maps a server's base URL to its process, for CPU accounting.
	pids map[string]int
	// admins maps a gateway's base URL to its admin address (pprof).
	admins map[string]string
}

func newEnv(dir string, pin bool) (*Env, error) {
	e := &Env{Dir: dir, Secret: harness.NewSecret(), RedisURL: os.Getenv("HUB_TEST_REDIS_URL"), pin: pin, pids: map[string]int{}, admins: map[string]string{}}
	up, err := harness.StartUpstream(harness.UpstreamOptions{Secret: e.Secret, Dir: dir})
	if err != nil {
		return nil, err
	}
	e.Upstream = up
	e.track("http://"+up.Addr, up.Cmd.Process.Pid)
	e.stops = append(e.stops, up.Stop)
	if _, err := harness.RunCLI(up.Env, "user", "create", "--email", "bench@example.com", "--password", "bench-password", "--role", "admin", "--nom", "Bench"); err != nil {
		return nil, err
	}
	if _, err := harness.RunCLI(up.Env, "seed"); err != nil {
		return nil, err
	}
	out, err := harness.RunCLI(up.Env, "apikey", "demo", "--user", "bench@example.com")
	if err != nil {
		return nil, err
	}
	e.Key = strings.TrimSpace(out)
	return e, nil
}

// Close stops everything the environment started.
func (e *Env) Close() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}

// Gateway starts a hubgate with caddyfile (a Caddyfile text; "" for the
// repository's default) in front of upstream (host:port; "" for the shared
// upstream), with extra environment.
func (e *Env) Gateway(caddyfile, upstream string, extraEnv ...string) (*harness.Gateway, error) {
	path := ""
	if caddyfile != "" {
		f, err := os.CreateTemp(e.Dir, "*.Caddyfile")
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(caddyfile); err != nil {
			return nil, err
		}
		f.Close()
		path = filepath.Clean(f.Name())
	}
	if upstream == "" {
		upstream = e.Upstream.Addr
	}
	redis := ""
	for _, kv := range extraEnv {
		if v, ok := strings.CutPrefix(kv, "HUB_REDIS_URL="); ok {
			redis = v
		}
	}
	g, err := harness.StartGateway(harness.GatewayOptions{Upstream: upstream, Secret: e.Secret, Dir: e.Dir, Caddyfile: path, RedisURL: redis, ExtraEnv: extraEnv})
	if err != nil {
		return nil, err
	}
	e.track(g.URL, g.Cmd.Process.Pid)
	e.admins[g.URL] = g.AdminAddr
	return g, nil
}

// track records the process serving baseURL, and pins it to CPU 0 when
// the environment pins.
func (e *Env) track(baseURL string, pid int) {
	e.pids[baseURL] = pid
	if e.pin {
		harness.Pin(pid, "0")
	}
}

// adminFor returns the admin address of the gateway serving url ("" if
// the row's server is not a gateway).
func (e *Env) adminFor(url string) string {
	for base, addr := range e.admins {
		if strings.HasPrefix(url, base+"/") {
			return addr
		}
	}
	return ""
}

// pidFor returns the process serving url (0 if unknown).
func (e *Env) pidFor(url string) int {
	for base, pid := range e.pids {
		if strings.HasPrefix(url, base+"/") || url == base {
			return pid
		}
	}
	return 0
}

// Signed returns request headers carrying a fresh gateway assertion, for
// rows that reach the upstream without hub_auth (direct, bare Caddy).
func (e *Env) Signed() map[string]string {
	tok, err := assertion.Sign([]byte(e.Secret), assertion.Claims{Subject: "1", Role: "admin", Method: "api_key", Scopes: []string{"read"}, HTTPMethod: "GET"}, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	return map[string]string{assertion.Header: tok}
}

// KeyHeaders returns request headers carrying the admin API key.
func (e *Env) KeyHeaders() map[string]string {
	return map[string]string{"Authorization": "Bearer " + e.Key}
}
