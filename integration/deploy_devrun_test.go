package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// lockedBuffer collects a process's output for polling while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMakeRunAndReload drives deploy/dev.sh, the engine of `make run` and
// `make reload`, as a user would: everything is written under DATA (the env
// file with mode 0600, Caddy's autosave; nothing in $HOME), a JWT issued
// before `reload` still works after it although the caller's shell exports
// another issuer, journal and admin address, and a SIGINT to the process
// group (Ctrl-C) stops both services with exit status 0.
func TestMakeRunAndReload(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	bin, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	root := harness.RepoRoot()
	data, home := t.TempDir(), t.TempDir()
	port := func() int {
		p, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	gwPort, upPort, adminPort, metricsPort := port(), port(), port(), port()
	base := []string{"DATA=" + data, "BIN=" + bin, "HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HUB_") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") {
			base = append(base, kv)
		}
	}
	runEnv := append(append([]string{}, base...),
		fmt.Sprintf("HUB_LISTEN=127.0.0.1:%d", gwPort),
		fmt.Sprintf("HUB_UPSTREAM=127.0.0.1:%d", upPort),
		fmt.Sprintf("HUB_ADMIN_LISTEN=127.0.0.1:%d", adminPort),
		fmt.Sprintf("HUB_METRICS_LISTEN=127.0.0.1:%d", metricsPort),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), // must not be used
	)

	out := &lockedBuffer{}
	run := exec.Command(filepath.Join(root, "deploy", "dev.sh"), "run")
	run.Dir, run.Env, run.Stdout, run.Stderr = root, runEnv, out, out
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("dev.sh output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops both") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("dev.sh run exited before the services were up: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("dev.sh run: services not up within 2 minutes")
		}
	}

	// Everything under DATA: the env file (0600), Caddy's autosave.
	envFile := filepath.Join(data, "hubgate.env")
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data/hubgate.env: %v, mode %v; want 0600", err, fi)
	}
	envText, _ := os.ReadFile(envFile)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	for _, want := range []string{"HUB_JWT_ISSUER=" + issuer, "HUB_AUDIT_DIR=" + filepath.Join(data, "audit"), "HUB_GATEWAY_SECRET=", "XDG_CONFIG_HOME=" + data} {
		if !strings.Contains(string(envText), want) {
			t.Errorf("data/hubgate.env lacks %s", want)
		}
	}
	autosave := filepath.Join(data, "caddy", "config", "caddy", "autosave.json")
	if _, err := os.Stat(autosave); err != nil {
		t.Errorf("Caddy's autosave is not under data/: %v", err)
	}

	gw := "http://" + strings.TrimPrefix(issuer, "http://")
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Post(gw+"/api/auth/login", "application/json",
		strings.NewReader(`{"email":"conducteur@hubchantier.local","password":"demo-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.AccessToken == "" {
		t.Fatalf("login: status %d, %v", resp.StatusCode, err)
	}
	get := func() int {
		req, _ := http.NewRequest("GET", gw+"/api/v1/chantiers/1", nil)
		req.Header.Set("Authorization", "Bearer "+login.AccessToken)
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("JWT before reload: %d", s)
	}

	// A reload from a shell exporting other values: they are ignored.
	reload := exec.Command(filepath.Join(root, "deploy", "dev.sh"), "reload")
	reload.Dir = root
	reload.Env = append(append([]string{}, base...), "HUB_JWT_ISSUER=http://elsewhere.example",
		"HUB_AUDIT_DIR="+filepath.Join(home, "journal"), "HUB_ADMIN_LISTEN=127.0.0.1:1", "HUB_GATEWAY_SECRET=not-the-secret-of-the-running-one")
	if b, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("dev.sh reload: %v\n%s", err, b)
	}
	if s := get(); s != 200 {
		t.Errorf("JWT after reload: %d, want 200 (issuer kept)", s)
	}
	if b, _ := os.ReadFile(autosave); !bytes.Contains(b, []byte(`"issuer":"`+issuer+`"`)) || !bytes.Contains(b, []byte(filepath.Join(data, "audit"))) {
		t.Errorf("the reloaded config changed the issuer or the journal directory")
	}

	// Ctrl-C: SIGINT to the whole process group; exit status 0.
	if err := syscall.Kill(-run.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("dev.sh run after SIGINT: %v, want exit status 0", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("dev.sh run still running 2 minutes after SIGINT")
	}
	if _, err := client.Get(gw + "/healthz"); err == nil {
		t.Errorf("the gateway still answers after the stop")
	}
	// Nothing written into $HOME (Caddy's autosave used to land in ~/.config/caddy).
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("dev.sh wrote into $HOME: %v", entries)
	}
}

// TestDevConfigJournalFollowsDatabase: switching HUB_DB gives the new
// database its own audit journal (a journal ships its chain to one audit
// store; carrying it over made `audit verify` report a retention gap),
// keeps it on later runs, and never moves a journal directory the operator
// chose.
func TestDevConfigJournalFollowsDatabase(t *testing.T) {
	root := harness.RepoRoot()
	data := t.TempDir()
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HUB_") && !strings.HasPrefix(kv, "XDG_") {
			base = append(base, kv)
		}
	}
	config := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(root, "deploy", "dev.sh"), "config")
		cmd.Dir, cmd.Env = root, append(append([]string{"DATA=" + data}, base...), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dev.sh config: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "HUB_GATEWAY_SECRET=") {
			t.Fatalf("dev.sh config printed the secret")
		}
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "HUB_AUDIT_DIR="); ok {
				return v
			}
		}
		t.Fatalf("no HUB_AUDIT_DIR in\n%s", out)
		return ""
	}
	sqlite := config()
	if sqlite != filepath.Join(data, "audit") {
		t.Fatalf("default journal %s", sqlite)
	}
	pg := config("HUB_DB=postgres://db.example/hub")
	if pg == sqlite || !strings.HasPrefix(pg, filepath.Join(data, "audit-")) {
		t.Fatalf("journal after switching HUB_DB: %s (was %s)", pg, sqlite)
	}
	if again := config(); again != pg {
		t.Fatalf("next run without HUB_DB in the shell: journal %s, want %s kept", again, pg)
	}
	if back := config("HUB_DB=" + filepath.Join(data, "hub.db")); back != sqlite {
		t.Fatalf("back to SQLite: journal %s, want %s", back, sqlite)
	}
	chosen := filepath.Join(data, "my-journal")
	config("HUB_AUDIT_DIR=" + chosen)
	if got := config("HUB_DB=postgres://other.example/hub"); got != chosen {
		t.Fatalf("a chosen journal directory moved: %s, want %s", got, chosen)
	}
}
