// Package harness starts the real hubchantier and hubgate binaries on free
// loopback ports for the end-to-end tests and the benchmark. Processes are
// ended by PID, only the ones the harness started.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvBinDir names a directory holding prebuilt hubgate and hubchantier
// binaries (set by `make test`); when unset they are built once per run.
const EnvBinDir = "HUB_BIN_DIR"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// RepoRoot returns the repository root (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries returns the directory of the hubgate and hubchantier binaries,
// building them once if HUB_BIN_DIR is not set.
func Binaries() (string, error) {
	buildOnce.Do(func() {
		if d := os.Getenv(EnvBinDir); d != "" {
			binDir = d
			return
		}
		dir, err := os.MkdirTemp("", "hubgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		for _, b := range []string{"hubchantier", "hubgate"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b), "./cmd/"+b)
			cmd.Dir = RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", b, err, out)
				return
			}
		}
		binDir = dir
	})
	return binDir, buildErr
}

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a started binary.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of its combined output

	mu     sync.Mutex
	exited chan struct{}
}

// Start runs bin with args and extra environment, output to a log file in dir.
func Start(dir, name, bin string, env []string, args ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = RepoRoot()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits (then SIGKILL after 10 s).
func (p *Proc) Stop() {
	p.signalAndWait(syscall.SIGTERM, 10*time.Second)
}

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() {
	p.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

func (p *Proc) signalAndWait(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Tail returns the last n bytes of the process log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// WaitHTTP polls url until it answers with a status below 500 (any answer
// from the server) or the timeout passes.
func WaitHTTP(url string, timeout time.Duration, p *Proc) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited early:\n%s", p.Name, p.Tail(4000))
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	msg := ""
	if p != nil {
		msg = p.Tail(4000)
	}
	return fmt.Errorf("%s did not answer within %s:\n%s", url, timeout, msg)
}

// RunCLI runs hubchantier with args and env and returns its stdout.
func RunCLI(env []string, args ...string) (string, error) {
	dir, err := Binaries()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "hubchantier"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("hubchantier %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// ErrSkip marks a set-up that cannot run here (a missing service).
var ErrSkip = errors.New("skip")
