package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeConfigRefused: serve refuses a HUB_PUBLIC_URL that cannot be the
// base of the OAuth2 metadata, and bad login throttle settings, before
// listening.
func TestServeConfigRefused(t *testing.T) {
	base := map[string]string{"HUB_DB": filepath.Join(t.TempDir(), "hub.db"), "HUB_ADDR": freeAddr(t),
		"HUB_GATEWAY_SECRET": strings.Repeat("s", 32)}
	for name, v := range map[string][2]string{
		"relative URL":     {"HUB_PUBLIC_URL", "api.example.com"},
		"other scheme":     {"HUB_PUBLIC_URL", "ftp://api.example.com"},
		"query":            {"HUB_PUBLIC_URL", "https://api.example.com/?x=1"},
		"credentials":      {"HUB_PUBLIC_URL", "https://u:p@api.example.com"},
		"failures not int": {"HUB_LOGIN_MAX_FAILURES", "five"},
		"failures zero":    {"HUB_LOGIN_MAX_FAILURES", "0"},
		"window":           {"HUB_LOGIN_FAILURE_WINDOW", "soon"},
		"pool size":        {"HUB_DB_MAX_OPEN_CONNS", "0"},
		"idle pool":        {"HUB_DB_MAX_IDLE_CONNS", "many"},
		"lifetime":         {"HUB_DB_CONN_MAX_LIFETIME", "1ms"},
		"idle time":        {"HUB_DB_CONN_MAX_IDLE_TIME", "forever"},
	} {
		env := map[string]string{v[0]: v[1]}
		for k, val := range base {
			env[k] = val
		}
		if code, _, stderr := runCLI(t, env, "", "serve"); code != 1 || !strings.Contains(stderr, v[0]) {
			t.Errorf("%s: exit %d %s", name, code, stderr)
		}
	}
}

func TestServeConfigParsed(t *testing.T) {
	c := &cli{getenv: func(k string) string {
		return map[string]string{"HUB_PUBLIC_URL": "https://api.example.com/", "HUB_LOGIN_MAX_FAILURES": "8",
			"HUB_LOGIN_FAILURE_WINDOW": "30m"}[k]
	}}
	if u, err := c.publicURL(); err != nil || u != "https://api.example.com" {
		t.Fatalf("publicURL %q %v", u, err)
	}
	if o, err := c.loginThrottle(); err != nil || o.MaxFailures != 8 || o.Window != 30*time.Minute {
		t.Fatalf("loginThrottle %+v %v", o, err)
	}
}

// TestDBPoolApplied: the pool settings reach database/sql.
func TestDBPoolApplied(t *testing.T) {
	d, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := &cli{getenv: func(k string) string {
		return map[string]string{"HUB_DB_MAX_OPEN_CONNS": "3", "HUB_DB_CONN_MAX_LIFETIME": "30m"}[k]
	}}
	if err := c.dbPool(d); err != nil {
		t.Fatal(err)
	}
	if got := d.Stats().MaxOpenConnections; got != 3 {
		t.Fatalf("MaxOpenConnections %d, want 3", got)
	}
}
