package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestValidateAndReloadKeepTheJournal: `hubgate validate` beside a running
// gateway succeeds and opens no journal (it used to fail with "audit
// journal … in use by another process", and, without the live
// environment, created a journal in Caddy's data directory); a reload
// that would move the journal to another directory (a shell without
// HUB_AUDIT_DIR) is refused and the running config keeps journaling,
// unless allow_journal_change says so; a reload that would change the JWT
// issuer is refused likewise.
func TestValidateAndReloadKeepTheJournal(t *testing.T) {
	s := newStack(t, backends[0])
	bin, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	caddyfile := filepath.Join(harness.RepoRoot(), "Caddyfile")
	gwEnv := s.gw.Cmd.Env
	var journal string
	for _, kv := range gwEnv {
		if v, ok := strings.CutPrefix(kv, "XDG_DATA_HOME="); ok {
			journal = filepath.Join(v, "caddy", "hub_audit")
		}
	}
	if _, err := os.Stat(filepath.Join(journal, "lock")); err != nil {
		t.Fatalf("the running gateway's journal is not where expected: %v", err)
	}
	run := func(env []string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "hubgate"), args...)
		cmd.Env, cmd.Dir = env, harness.RepoRoot()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// validate with the running gateway's environment: same journal.
	if out, err := run(gwEnv, "validate", "--config", caddyfile, "--adapter", "caddyfile"); err != nil {
		t.Fatalf("validate beside the running gateway: %v\n%s", err, out)
	}
	// validate from a bare shell: writes nothing under its data directory.
	bare := t.TempDir()
	env := []string{"HOME=" + bare, "XDG_DATA_HOME=" + filepath.Join(bare, "data"), "XDG_CONFIG_HOME=" + filepath.Join(bare, "config"),
		"HUB_GATEWAY_SECRET=" + s.secret, "PATH=" + os.Getenv("PATH")}
	if out, err := run(env, "validate", "--config", caddyfile, "--adapter", "caddyfile"); err != nil {
		t.Fatalf("validate from a bare shell: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(bare, "data", "caddy", "hub_audit")); !os.IsNotExist(err) {
		t.Fatalf("validate created a journal: %v", err)
	}

	// A reload moving the journal: refused, the gateway keeps serving and journaling.
	moved := append(append([]string{}, gwEnv...), "HUB_AUDIT_DIR="+filepath.Join(t.TempDir(), "elsewhere"))
	out, err := run(moved, "reload", "--config", caddyfile, "--adapter", "caddyfile", "--address", s.gw.AdminAddr)
	if err == nil || !strings.Contains(out, "allow_journal_change") {
		t.Fatalf("a reload moving the journal was accepted: %v\n%s", err, out)
	}
	r := s.gwDo("GET", "/healthz", nil)
	if r.status != 200 {
		t.Fatalf("after the refused reload: %d", r.status)
	}
	// A reload changing the issuer: refused too.
	other := append(append([]string{}, gwEnv...), "HUB_JWT_ISSUER=http://elsewhere.example")
	if out, err := run(other, "reload", "--config", caddyfile, "--adapter", "caddyfile", "--address", s.gw.AdminAddr); err == nil || !strings.Contains(out, "allow_issuer_change") {
		t.Fatalf("a reload changing the issuer was accepted: %v\n%s", err, out)
	}
	// The same environment reloads fine.
	if err := s.gw.Reload(caddyfile); err != nil {
		t.Fatalf("a plain reload: %v", err)
	}
	if r := s.gwDo("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("after the reload: %d", r.status)
	}
}
