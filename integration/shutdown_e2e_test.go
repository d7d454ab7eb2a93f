package integration

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// delayProxy sits between a gateway and the upstream and holds the answer
// for some paths for a while (giving up when the gateway gives up). It
// counts the requests that reached it per path.
type delayProxy struct {
	addr  string
	mu    sync.Mutex
	delay map[string]time.Duration
	seen  map[string]int
}

func newDelayProxy(t *testing.T, upstream string, delay map[string]time.Duration) *delayProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{addr: l.Addr().String(), delay: delay, seen: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen[r.URL.Path]++
		d := p.delay[r.URL.Path]
		p.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *delayProxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[path]
}

var journalClosed = regexp.MustCompile(`"audit journal closed","gateway_id":"([^"]+)","head_seq":(\d+)`)

// TestSIGTERMDrainsAndFlushes: SIGTERM arrives while two answers are in
// flight through the gateway: one the upstream gives within the grace
// period completes with 200 (and its audit record); one the upstream
// holds far longer is cut at the grace period, so the process exits in a
// bounded time, with exit status 0. The audit journal is closed cleanly
// (its head logged), and once a gateway on the same journal has shipped
// it, every answered request has exactly one record and `audit verify
// --expect <gateway>:<head>` holds.
func TestSIGTERMDrainsAndFlushes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	const (
		grace    = 5 * time.Second
		slow     = 1500 * time.Millisecond // within the grace period
		hang     = 60 * time.Second        // far beyond it
		slowPath = "/api/v1/chantiers/1"
		hangPath = "/api/v1/chantiers/2"
	)
	dir := t.TempDir()
	uo := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: dir}
	up, err := harness.StartUpstream(uo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	proxy := newDelayProxy(t, up.Addr, map[string]time.Duration{slowPath: slow, hangPath: hang})
	journal := filepath.Join(dir, "audit")
	gwo := harness.GatewayOptions{Upstream: proxy.addr, Secret: uo.Secret, Dir: dir,
		ExtraEnv: []string{"HUB_AUDIT_DIR=" + journal, "HUB_GRACE_PERIOD=" + grace.String()}}
	gw, err := harness.StartGateway(gwo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", gw.Tail(4000))
		}
	})
	s := &stack{t: t, up: up, gw: gw, secret: uo.Secret, client: &http.Client{Timeout: 2 * hang}}
	s.createUser("root@example.com", "admin")
	s.cli("seed")
	_, key := s.createKey(s.login("root@example.com", "correct-horse-battery"), map[string]any{"name": "k", "scopes": []string{"read", "write"}})

	// Answered requests before the signal (their ids must all be recorded).
	var rids []string
	for i := range 20 {
		r := s.gwDo("GET", fmt.Sprintf("/api/v1/chantiers?limit=%d", i%5+1), nil, bearer(key)...)
		if r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		rids = append(rids, r.header.Get("X-Request-Id"))
	}

	type result struct {
		status int
		rid    string
		err    error
	}
	inFlight := func(path string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest("GET", gw.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := s.client.Do(req)
			if err != nil {
				ch <- result{err: err}
				return
			}
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			ch <- result{status: resp.StatusCode, rid: resp.Header.Get("X-Request-Id"), err: err}
		}()
		return ch
	}
	hangDone := inFlight(hangPath)
	eventually(t, 10*time.Second, "hanging request at the upstream", func() bool { return proxy.count(hangPath) == 1 })
	slowDone := inFlight(slowPath)
	eventually(t, 10*time.Second, "slow request at the upstream", func() bool { return proxy.count(slowPath) == 1 })

	start := time.Now()
	if err := gw.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sr := <-slowDone
	if sr.err != nil || sr.status != 200 {
		t.Fatalf("in-flight request during SIGTERM: status %d, err %v; want 200", sr.status, sr.err)
	}
	rids = append(rids, sr.rid)
	// The process exits once the grace period is over, long before the
	// held answer would come.
	eventually(t, hang/2, "gateway exited after SIGTERM", gw.Exited)
	exitAfter := time.Since(start)
	if code := gw.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	hr := <-hangDone
	if hr.err == nil && hr.status == 200 {
		t.Fatalf("the request held %s by the upstream got 200: the grace period was not applied", hang)
	}
	t.Logf("SIGTERM: slow request 200, exit after %s (grace %s); request held beyond grace: status %d err %v",
		exitAfter.Round(10*time.Millisecond), grace, hr.status, hr.err)

	// The journal was closed cleanly: its head is logged.
	b, err := os.ReadFile(gw.Log)
	if err != nil {
		t.Fatal(err)
	}
	m := journalClosed.FindAllStringSubmatch(string(b), -1)
	if len(m) == 0 {
		t.Fatalf("no \"audit journal closed\" line in the gateway log:\n%s", gw.Tail(3000))
	}
	head := m[len(m)-1]
	expect := head[1] + ":" + head[2]

	// Whatever was not shipped before the exit is in the journal: a
	// gateway started on it ships it.
	gw2, err := harness.StartGateway(gwo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw2.Stop)
	dsn := filepath.Join(dir, "hub.db")
	var counts map[string]int
	eventually(t, 60*time.Second, "every answered request recorded", func() bool {
		counts = countByRequestID(t, dsn)
		for _, rid := range rids {
			if counts[rid] == 0 {
				return false
			}
		}
		return true
	})
	for _, rid := range rids {
		if counts[rid] != 1 {
			t.Fatalf("request %s has %d records, want exactly 1", rid, counts[rid])
		}
	}
	out, err := harness.RunCLI(up.Env, "audit", "verify", "--expect", expect)
	if err != nil || !strings.Contains(out, "ok: every chain holds") {
		t.Fatalf("audit verify --expect %s: %v\n%s", expect, err, out)
	}
	t.Logf("%d answered requests recorded once each; chain %s verified", len(rids), expect)
}
