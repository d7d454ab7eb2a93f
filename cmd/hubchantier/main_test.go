package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// runCLI runs one command in-process with env and returns status and output.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }, bcryptCost: bcrypt.MinCost}
	code := c.run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{"HUB_DB": filepath.Join(t.TempDir(), "hub.db")}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "a command is required"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"user"}, "user needs a subcommand"},
		{[]string{"user", "delete"}, `unknown command "user delete"`},
		{[]string{"user", "create", "--password", "long-enough", "--role", "admin"}, "--email is required"},
		{[]string{"user", "create", "--email", "a@b.c", "--role", "admin"}, "--password is required"},
		{[]string{"user", "create", "--email", "a@b.c", "--password", "long-enough", "--role", "chef"}, "--role must be"},
		{[]string{"user", "create", "--email", "a@b.c", "--password", "short", "--role", "admin"}, "--password must be at least 8"},
		{[]string{"user", "create", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"apikey"}, "apikey needs a subcommand"},
		{[]string{"apikey", "create", "--name", "n", "--scopes", "read"}, "--user is required"},
		{[]string{"apikey", "create", "--user", "a@b.c", "--scopes", "read"}, "--name is required"},
		{[]string{"apikey", "create", "--user", "a@b.c", "--name", "n"}, "--scopes is required"},
		{[]string{"apikey", "create", "--user", "a@b.c", "--name", "n", "--scopes", "read", "--expires-days", "400"}, "--expires-days must be"},
		{[]string{"apikey", "create", "--user", "a@b.c", "--name", "n", "--scopes", "read", "--expires-days", "x"}, "invalid value"},
		{[]string{"apikey", "create", "--user", "nobody@b.c", "--name", "n", "--scopes", "read"}, `--user no user "nobody@b.c"`},
		{[]string{"apikey", "revoke"}, "expected ID"},
		{[]string{"apikey", "revoke", "a", "b"}, "expected ID"},
		{[]string{"apikey", "rotate", "--json"}, "expected ID"},
		{[]string{"apikey", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"apikey", "list", "--user", "nobody@b.c"}, "no such user"},
		{[]string{"signing-key", "renew"}, `unknown command "signing-key renew"`},
		{[]string{"migrate", "now"}, `unexpected argument "now"`},
		{[]string{"seed", "--password", "short"}, "at least 8"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, env, "", tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "usage: hubchantier") {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	if code, out, _ := runCLI(t, env, "", "help"); code != 0 || !strings.Contains(out, "apikey create") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestParseInterspersed(t *testing.T) {
	c := &cli{}
	tests := []struct {
		args     []string
		wantPos  string
		wantJSON bool
	}{
		{[]string{"abc", "--json"}, "abc", true},
		{[]string{"--json", "abc"}, "abc", true},
		{[]string{"abc"}, "abc", false},
	}
	for _, tc := range tests {
		fs := flagSet("t")
		asJSON := fs.Bool("json", false, "")
		pos, err := c.parse(fs, tc.args, "ID")
		if err != nil || pos[0] != tc.wantPos || *asJSON != tc.wantJSON {
			t.Errorf("%v: %v %v %v", tc.args, pos, *asJSON, err)
		}
	}
}

// dsns returns the databases the CLI flow runs against.
func dsns(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "data", "hub.db") },
		"postgres": func(t *testing.T) string { return dbtest.PostgresURL(t) },
	}
}

func TestCommands(t *testing.T) {
	for name, dsn := range dsns(t) {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"HUB_DB": dsn(t)}
			must := func(stdin string, args ...string) string {
				t.Helper()
				code, out, stderr := runCLI(t, env, stdin, args...)
				if code != 0 {
					t.Fatalf("%v: exit %d: %s", args, code, stderr)
				}
				return out
			}
			must("", "migrate")
			must("", "migrate")
			must("", "user", "create", "--email", "Chef@Example.test", "--password", "long-enough", "--role", "conducteur", "--nom", "Chef")
			must("stdin-password\n", "user", "create", "--email", "ouv@example.test", "--password", "-", "--role", "ouvrier")
			if code, _, stderr := runCLI(t, env, "", "user", "create", "--email", "chef@example.test", "--password", "long-enough", "--role", "admin"); code != 1 || !strings.Contains(stderr, "already registered") {
				t.Errorf("duplicate user: %d %s", code, stderr)
			}

			out := must("", "apikey", "create", "--user", "chef@example.test", "--name", "erp", "--scopes", "read, chantiers:write",
				"--ip", "10.0.0.0/8,::1", "--expires-days", "30", "--rate-limit", "100/hour", "--json")
			var k map[string]any
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&k); err != nil || dec.More() {
				t.Fatalf("want exactly one JSON object: %q (%v)", out, err)
			}
			key, _ := k["key"].(string)
			id, secret, err := apikey.Parse(key)
			if err != nil || id != k["id"] || k["rate_limit"] != "100/hour" || k["status"] != "active" {
				t.Fatalf("created %v", k)
			}
			if code, _, stderr := runCLI(t, env, "", "apikey", "create", "--user", "ouv@example.test", "--name", "x", "--scopes", "write"); code != 2 || !strings.Contains(stderr, "exceeds the ouvrier role") {
				t.Errorf("escalation: %d %s", code, stderr)
			}

			list := must("", "apikey", "list", "--user", "chef@example.test", "--json")
			if strings.Contains(list, secret) || !strings.Contains(list, id) {
				t.Fatalf("list: %s", list)
			}
			if table := must("", "apikey", "list"); !strings.Contains(table, id) || !strings.Contains(table, "never") {
				t.Errorf("table: %s", table)
			}

			var rot auth.Created
			if err := json.Unmarshal([]byte(must("", "apikey", "rotate", id, "--json")), &rot); err != nil || rot.ID != id || rot.GraceUntil == nil || rot.Key == key {
				t.Fatalf("rotate: %+v %v", rot, err)
			}
			if out := must("", "apikey", "rotate", id); !strings.Contains(out, "hbc_"+id+"_") || !strings.Contains(out, "shown only once") {
				t.Errorf("rotate text: %s", out)
			}
			must("", "apikey", "revoke", id)
			if !strings.Contains(must("", "apikey", "list"), "revoked") {
				t.Error("revoked key not listed as revoked")
			}
			if code, _, stderr := runCLI(t, env, "", "apikey", "revoke", "zzzzzzzzzzzz"); code != 1 || !strings.Contains(stderr, "no API key") {
				t.Errorf("unknown key: %d %s", code, stderr)
			}
			must("", "signing-key", "rotate")
		})
	}
}

func TestSeedAndDemoKey(t *testing.T) {
	env := map[string]string{"HUB_DB": filepath.Join(t.TempDir(), "hub.db"), "HUB_SEED_PASSWORD": "seed-password"}
	for range 2 { // idempotent
		if code, out, stderr := runCLI(t, env, "", "seed"); code != 0 {
			t.Fatalf("seed: %d %s %s", code, out, stderr)
		}
	}
	var keys []string
	for range 12 { // more than the 10-key limit: earlier demo keys are revoked
		code, out, stderr := runCLI(t, env, "", "apikey", "demo", "--user", "admin@hubchantier.local")
		if code != 0 {
			t.Fatalf("demo: %d %s", code, stderr)
		}
		if _, _, err := apikey.Parse(strings.TrimSpace(out)); err != nil {
			t.Fatalf("demo printed %q", out)
		}
		keys = append(keys, out)
	}
	_, out, _ := runCLI(t, env, "", "apikey", "list", "--user", "admin@hubchantier.local", "--json")
	var list struct{ Data []auth.KeyInfo }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, k := range list.Data {
		if k.Status == auth.StatusActive {
			active++
			if strings.Join(k.Scopes, " ") != "read write admin" {
				t.Errorf("demo scopes %v", k.Scopes)
			}
		}
	}
	if active != 1 {
		t.Errorf("%d active demo keys", active)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"HUB_DB": filepath.Join(dir, "hub.db"), "HUB_ADDR": freeAddr(t)}
	for _, secret := range []string{"", "too-short"} {
		env["HUB_GATEWAY_SECRET"] = secret
		if code, _, stderr := runCLI(t, env, "", "serve"); code != 1 || !strings.Contains(stderr, "HUB_GATEWAY_SECRET must be set") {
			t.Errorf("secret %q: exit %d %s", secret, code, stderr)
		}
	}
	env["HUB_GATEWAY_SECRET"] = strings.Repeat("s", 32)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		c := &cli{stdout: &bytes.Buffer{}, stderr: &errb, getenv: func(k string) string { return env[k] }}
		done <- c.run(ctx, []string{"serve"})
	}()
	base := "http://" + env["HUB_ADDR"]
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get(base + "/.well-known/jwks.json"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("server did not come up: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("jwks: %d", resp.StatusCode)
	}
	// /api/* without a gateway assertion is refused.
	if resp, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != 401 {
		t.Errorf("direct /api call: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func flagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }
