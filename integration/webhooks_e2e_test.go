package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// webhookEnv is what the upstream needs for loopback receivers and fast
// retries in tests.
var webhookEnv = []string{
	"HUB_WEBHOOK_ALLOW_PRIVATE=true",
	"HUB_EVENTS_POLL=20ms",
	"HUB_EVENTS_BACKOFF_BASE=50ms",
	"HUB_WEBHOOK_TIMEOUT=2s",
	"HUB_EVENTS_LEASE=3s",
}

// hookStack is an upstream (with webhookEnv) and a gateway; the upstream
// can be killed and started again on the same address and database.
type hookStack struct {
	*stack
	dir  string
	opts harness.UpstreamOptions
}

func newHookStack(t *testing.T, postgres bool) *hookStack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := t.TempDir()
	opts := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: dir, ExtraEnv: webhookEnv}
	if postgres {
		opts.DSN = postgresURL(t)
	}
	up, err := harness.StartUpstream(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := &hookStack{dir: dir, opts: opts}
	t.Cleanup(func() {
		hs.up.Stop()
		if t.Failed() {
			t.Logf("upstream log tail:\n%s", hs.up.Tail(3000))
		}
	})
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: opts.Secret, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", gw.Tail(3000))
		}
	})
	hs.stack = &stack{t: t, up: up, gw: gw, secret: opts.Secret, client: &http.Client{Timeout: 15 * time.Second}}
	return hs
}

// restartUpstream starts `hubchantier serve` again with the same address,
// database and environment.
func (h *hookStack) restartUpstream() {
	h.t.Helper()
	bin, err := harness.Binaries()
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := harness.Start(h.dir, "hubchantier-restarted", filepath.Join(bin, "hubchantier"), h.up.Env, "serve")
	if err != nil {
		h.t.Fatal(err)
	}
	if err := harness.WaitHTTP("http://"+h.up.Addr+"/healthz", 30*time.Second, p); err != nil {
		p.Kill()
		h.t.Fatal(err)
	}
	h.up.Proc = p
}

// verifySignature checks a Standard Webhooks signature header, written
// here from the specification (not with the upstream's code): base64
// HMAC-SHA256 of "id.timestamp.body" under the base64 key after "whsec_",
// any of the space-separated "v1,<sig>" matching, timestamp within 5 min.
func verifySignature(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("webhook-timestamp %q out of tolerance", ts)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", id, ts)
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		v, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(v); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature in %q", h.Get("webhook-signature"))
}

// hookReceiver is a loopback endpoint verifying and recording deliveries.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	acked  map[string]int            // event id → 2xx answers sent
	events map[string]map[string]any // event id → envelope
	bad    []string
	// gate, when set, blocks every request after the first open ones
	// until it is closed, and then answers 503 (nothing acknowledged).
	gate chan struct{}
	open int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{acked: map[string]int{}, events: map[string]map[string]any{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		gate := rc.gate
		if gate != nil && rc.open <= 0 {
			rc.mu.Unlock()
			<-gate
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.open--
		defer rc.mu.Unlock()
		if err := verifySignature(rc.secret, r.Header, body); err != nil {
			rc.bad = append(rc.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil || env["id"] != r.Header.Get("webhook-id") {
			rc.bad = append(rc.bad, "envelope id differs from webhook-id")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := env["id"].(string)
		rc.acked[id]++
		rc.events[id] = env
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// resources returns the resource ids of the acknowledged events of typ.
func (rc *hookReceiver) resources(typ string) map[string]bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]bool{}
	for _, e := range rc.events {
		if e["type"] == typ {
			out[e["resource"].(map[string]any)["id"].(string)] = true
		}
	}
	return out
}

// createWebhook creates a webhook through the gateway and returns its id
// and secret.
func (h *hookStack) createWebhook(tok, url string, evs ...string) (string, string) {
	h.t.Helper()
	r := h.gwDo("POST", "/api/v1/webhooks", map[string]any{"url": url, "events": evs, "description": "e2e"}, bearer(tok)...)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	m := r.json(h.t)
	return m["id"].(string), m["secret"].(string)
}

// TestWebhooksE2E: through the gateway, a webhook is created (secret
// once), a chantier and an urgent signalement are delivered signed to a
// loopback receiver (verified with an independent implementation), the
// delivery log shows them, and a private target is refused when the
// operator has not allowed them.
func TestWebhooksE2E(t *testing.T) {
	for _, b := range []backend{{"sqlite", false, false}, {"postgres", true, false}} {
		t.Run(b.name, func(t *testing.T) {
			h := newHookStack(t, b.postgres)
			h.createUser("admin@hub.test", "admin")
			tok := h.login("admin@hub.test", "correct-horse-battery")
			rc := newHookReceiver(t)
			id, secret := h.createWebhook(tok, rc.URL+"/hooks", "chantier.*", "signalement.created")
			rc.mu.Lock()
			rc.secret = secret
			rc.mu.Unlock()
			if r := h.gwDo("GET", "/api/v1/webhooks/"+id, nil, bearer(tok)...); r.status != 200 || strings.Contains(string(r.body), "whsec_") {
				t.Fatalf("get webhook: %d %s", r.status, r.body)
			}
			c := h.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Tour E2E"}, bearer(tok)...)
			if c.status != 201 {
				t.Fatalf("create chantier: %d %s", c.status, c.body)
			}
			cid := strconv.Itoa(int(c.json(t)["id"].(float64)))
			s := h.gwDo("POST", "/api/v1/signalements", map[string]any{"chantier_id": c.json(t)["id"], "titre": "Fuite", "urgent": true}, bearer(tok)...)
			if s.status != 201 {
				t.Fatalf("create signalement: %d %s", s.status, s.body)
			}
			eventually(t, 30*time.Second, "both events delivered", func() bool {
				return rc.resources("chantier.created")[cid] && len(rc.resources("signalement.created")) == 1
			})
			rc.mu.Lock()
			if len(rc.bad) > 0 {
				t.Errorf("bad deliveries: %v", rc.bad)
			}
			for _, e := range rc.events {
				if e["type"] == "signalement.created" && e["data"].(map[string]any)["urgent"] != true {
					t.Errorf("signalement.created without urgent: %v", e)
				}
			}
			rc.mu.Unlock()
			eventually(t, 10*time.Second, "delivery log", func() bool {
				r := h.gwDo("GET", "/api/v1/webhooks/"+id+"/deliveries", nil, bearer(tok)...)
				if r.status != 200 {
					t.Fatalf("deliveries: %d %s", r.status, r.body)
				}
				list := r.json(t)["data"].([]any)
				return len(list) == 2 && list[0].(map[string]any)["status"] == "succeeded" && list[1].(map[string]any)["status"] == "succeeded"
			})
		})
	}
}

// TestKill9DeliversEverything: the upstream is killed with SIGKILL while
// it delivers a stream of events (deliveries in flight, others pending,
// others not yet fanned out); started again, it delivers every event at
// least once. The receiver acknowledges the first deliveries, then holds
// every request until the kill, so the kill is mid-stream by construction.
func TestKill9DeliversEverything(t *testing.T) {
	for _, b := range []backend{{"sqlite", false, false}, {"postgres", true, false}} {
		t.Run(b.name, func(t *testing.T) {
			h := newHookStack(t, b.postgres)
			h.createUser("admin@hub.test", "admin")
			tok := h.login("admin@hub.test", "correct-horse-battery")
			rc := newHookReceiver(t)
			gate := make(chan struct{})
			rc.mu.Lock()
			rc.gate, rc.open = gate, 10
			rc.mu.Unlock()
			_, secret := h.createWebhook(tok, rc.URL, "chantier.created")
			rc.mu.Lock()
			rc.secret = secret
			rc.mu.Unlock()

			const n = 80
			want := map[string]bool{}
			for i := range n {
				c := h.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": fmt.Sprintf("Chantier %d", i)}, bearer(tok)...)
				if c.status != 201 {
					t.Fatalf("create chantier %d: %d %s", i, c.status, c.body)
				}
				want[strconv.Itoa(int(c.json(t)["id"].(float64)))] = true
			}
			eventually(t, 30*time.Second, "the first deliveries", func() bool { return len(rc.resources("chantier.created")) >= 10 })
			before := len(rc.resources("chantier.created"))
			h.up.Kill() // SIGKILL: no shutdown, leases left behind
			rc.mu.Lock()
			rc.gate = nil // from now on every delivery is answered
			rc.mu.Unlock()
			close(gate) // the held requests answer 503 to a dead process
			if before >= n {
				t.Fatalf("everything was delivered before the kill (%d)", before)
			}
			h.restartUpstream()
			eventually(t, 60*time.Second, "every event after the restart", func() bool {
				got := rc.resources("chantier.created")
				for id := range want {
					if !got[id] {
						return false
					}
				}
				return true
			})
			rc.mu.Lock()
			defer rc.mu.Unlock()
			dup := 0
			for _, k := range rc.acked {
				dup += k - 1
			}
			if len(rc.bad) > 0 {
				t.Errorf("bad deliveries: %v", rc.bad)
			}
			t.Logf("%d events: %d acknowledged before the kill, all %d after the restart, %d duplicates", n, before, len(rc.events), dup)
		})
	}
}
