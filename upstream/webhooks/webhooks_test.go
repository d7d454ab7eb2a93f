package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/events/eventstest"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// fixture is the service on a test database with its dispatcher running
// and three users: 1 admin, 2 conducteur, 3 ouvrier.
type fixture struct {
	t   *testing.T
	d   *db.DB
	s   *Service
	mux *http.ServeMux
}

func newFixture(t *testing.T, d *db.DB, opt Options) *fixture {
	t.Helper()
	opt.AllowPrivate = true // receivers are on loopback
	s, err := New(d, bytes.Repeat([]byte{7}, 32), opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, role := range []string{"admin", "conducteur", "ouvrier"} {
		if _, err := d.Exec(context.Background(), `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, 'x', 0, 0)`,
			role+"@x.fr", role, role); err != nil {
			t.Fatal(err, i)
		}
	}
	mux := http.NewServeMux()
	s.Register(mux)
	p := events.NewDispatcher(d, events.Options{Poll: 5 * time.Millisecond, BackoffBase: 5 * time.Millisecond})
	p.Register(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{t: t, d: d, s: s, mux: mux}
}

var roles = map[int]string{1: "admin", 2: "conducteur", 3: "ouvrier"}

// do calls the API as user uid (scopes read, write).
func (f *fixture) do(uid int, method, path string, body any) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Content-Type", "application/json")
	c := &assertion.Claims{Subject: strconv.Itoa(uid), Role: roles[uid], Method: "jwt", Scopes: []string{"read", "write"}}
	r = r.WithContext(httpx.WithIdentity(r.Context(), c))
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m
}

func (f *fixture) emit(typ string, owner int64) string {
	f.t.Helper()
	tx, err := f.d.BeginTx(context.Background(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	ev := events.New(typ, time.Now(), events.System, events.Resource{Type: "chantiers", ID: "1"}, map[string]any{"id": 1})
	if owner != 0 {
		ev = ev.ForOwner(owner)
	}
	if err := events.Append(context.Background(), f.d, tx, ev); err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		f.t.Fatal(err)
	}
	return ev.ID
}

// receiver is a loopback endpoint that records deliveries.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
}

func newReceiver(t *testing.T, status int) *receiver {
	rc := &receiver{status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got, rc.bodies = append(rc.got, r), append(rc.bodies, b)
		st := rc.status
		rc.mu.Unlock()
		if st == http.StatusFound {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", st)
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) n() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (rc *receiver) last() (*http.Request, []byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got[len(rc.got)-1], rc.bodies[len(rc.bodies)-1]
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func verifies(t *testing.T, secret string, r *http.Request, body []byte) bool {
	t.Helper()
	ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q", r.Header.Get(HeaderTimestamp))
	}
	return Verify(secret, r.Header.Get(HeaderID), ts, body, r.Header.Get(HeaderSignature))
}

// TestWebhookAPIAndSignedDelivery: create (secret once, encrypted at
// rest), owner scoping, a signed delivery that verifies, rotation with
// both signatures, the delivery log and manual redelivery.
func TestWebhookAPIAndSignedDelivery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Options{})
		rc := newReceiver(t, http.StatusNoContent)

		st, m := f.do(2, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL + "/hook", "events": []string{"chantier.*"}, "description": "ERP"})
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, m)
		}
		id, secret := m["id"].(string), m["secret"].(string)
		if !strings.HasPrefix(secret, SecretPrefix) || !strings.HasPrefix(id, "wh_") {
			t.Fatalf("create answer %v", m)
		}
		var stored string
		if err := d.QueryRow(context.Background(), `SELECT secret_enc FROM webhooks WHERE id = ?`, id).Scan(&stored); err != nil || strings.Contains(stored, strings.TrimPrefix(secret, SecretPrefix)) {
			t.Fatalf("secret stored in clear (%v)", err)
		}
		if st, m := f.do(2, "GET", "/api/v1/webhooks/"+id, nil); st != 200 || m["secret"] != nil || m["url"] != rc.URL+"/hook" {
			t.Fatalf("get: %d %v", st, m)
		}
		// Scoping: ouvriers have no webhooks; an admin's webhook is not the
		// conducteur's to see; the admin sees everybody's.
		if st, _ := f.do(3, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL, "events": []string{"*"}}); st != 403 {
			t.Errorf("ouvrier create: %d, want 403", st)
		}
		st, am := f.do(1, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL + "/admin", "events": []string{"document.created"}})
		if st != 201 {
			t.Fatalf("admin create: %d", st)
		}
		if st, _ := f.do(2, "GET", "/api/v1/webhooks/"+am["id"].(string), nil); st != 404 {
			t.Errorf("conducteur reads admin's webhook: %d, want 404", st)
		}
		if _, l := f.do(2, "GET", "/api/v1/webhooks", nil); len(l["data"].([]any)) != 1 {
			t.Errorf("conducteur list: %v", l)
		}
		if _, l := f.do(1, "GET", "/api/v1/webhooks", nil); len(l["data"].([]any)) != 2 {
			t.Errorf("admin list: %v", l)
		}
		if st, p := f.do(2, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL, "events": []string{"nope.*"}}); st != 400 || p["type"] != "urn:hubchantier:problem:validation" {
			t.Errorf("unknown event pattern: %d %v", st, p)
		}

		evID := f.emit(events.ChantierCreated, 0)
		f.emit(events.SignalementCreated, 0) // not subscribed
		waitFor(t, "first delivery", func() bool { return rc.n() >= 1 })
		r, body := rc.last()
		if r.Header.Get(HeaderID) != evID || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("delivery headers %v path %s", r.Header, r.URL.Path)
		}
		if !verifies(t, secret, r, body) || strings.Count(r.Header.Get(HeaderSignature), "v1,") != 1 {
			t.Fatalf("signature %q does not verify", r.Header.Get(HeaderSignature))
		}
		var env events.Event
		if err := json.Unmarshal(body, &env); err != nil || env.ID != evID || env.Type != events.ChantierCreated {
			t.Fatalf("body %s", body)
		}

		// Rotation: the new secret is shown once; both sign during the overlap.
		st, rm := f.do(2, "POST", "/api/v1/webhooks/"+id+"/rotate-secret", nil)
		if st != 200 || rm["secret"] == secret || rm["previous_secret_expires_at"] == nil {
			t.Fatalf("rotate: %d %v", st, rm)
		}
		f.emit(events.ChantierUpdated, 0)
		waitFor(t, "second delivery", func() bool { return rc.n() >= 2 })
		r, body = rc.last()
		if !verifies(t, secret, r, body) || !verifies(t, rm["secret"].(string), r, body) {
			t.Fatalf("during the overlap both secrets must verify: %q", r.Header.Get(HeaderSignature))
		}

		// Delivery log, newest first, and redelivery of the first event.
		st, lg := f.do(2, "GET", "/api/v1/webhooks/"+id+"/deliveries", nil)
		list := lg["data"].([]any)
		if st != 200 || len(list) != 2 {
			t.Fatalf("deliveries: %d %v", st, lg)
		}
		first := list[1].(map[string]any)
		if first["event_id"] != evID || first["status"] != "succeeded" || first["last_status"].(float64) != 204 {
			t.Fatalf("log entry %v", first)
		}
		did := strconv.Itoa(int(first["id"].(float64)))
		if st, _ := f.do(1, "GET", "/api/v1/webhooks/"+id+"/deliveries", nil); st != 200 {
			t.Errorf("admin reads the log: %d", st)
		}
		if st, _ := f.do(2, "POST", "/api/v1/webhooks/"+am["id"].(string)+"/deliveries/"+did+"/redeliver", nil); st != 404 {
			t.Errorf("redeliver through another's webhook: %d, want 404", st)
		}
		if st, m := f.do(2, "POST", "/api/v1/webhooks/"+id+"/deliveries/"+did+"/redeliver", nil); st != 202 {
			t.Fatalf("redeliver: %d %v", st, m)
		}
		waitFor(t, "redelivery", func() bool { return rc.n() >= 3 })
		if r, _ := rc.last(); r.Header.Get(HeaderID) != evID {
			t.Errorf("redelivered webhook-id %q, want %s", r.Header.Get(HeaderID), evID)
		}
		if st, _ := f.do(2, "DELETE", "/api/v1/webhooks/"+id, nil); st != 204 {
			t.Errorf("delete: %d", st)
		}
		if st, _ := f.do(2, "GET", "/api/v1/webhooks/"+id, nil); st != 404 {
			t.Errorf("get after delete: %d", st)
		}
	})
}

// TestFailingEndpointIsDisabled: redirects are not followed (a failure);
// after DisableAfter failures in a row the endpoint is disabled and its
// owner's other webhook receives webhook.disabled; enabling it again
// resets the count.
func TestFailingEndpointIsDisabled(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Options{DisableAfter: 3, BreakerFailures: 100})
		bad := newReceiver(t, http.StatusFound)
		ok := newReceiver(t, http.StatusOK)
		_, bm := f.do(2, "POST", "/api/v1/webhooks", map[string]any{"url": bad.URL, "events": []string{"chantier.created"}})
		_, om := f.do(2, "POST", "/api/v1/webhooks", map[string]any{"url": ok.URL, "events": []string{"webhook.disabled"}})
		_, other := f.do(1, "POST", "/api/v1/webhooks", map[string]any{"url": ok.URL + "/admin", "events": []string{"*"}})
		if bm["id"] == nil || om["id"] == nil || other["id"] == nil {
			t.Fatal("create failed")
		}
		f.emit(events.ChantierCreated, 0)
		waitFor(t, "disabled", func() bool {
			_, m := f.do(2, "GET", "/api/v1/webhooks/"+bm["id"].(string), nil)
			return m["enabled"] == false
		})
		if bad.n() < 3 {
			t.Errorf("%d attempts before disabling, want 3", bad.n())
		}
		_, m := f.do(2, "GET", "/api/v1/webhooks/"+bm["id"].(string), nil)
		if !strings.Contains(m["disabled_reason"].(string), "302") {
			t.Errorf("reason %q", m["disabled_reason"])
		}
		waitFor(t, "webhook.disabled to the owner", func() bool {
			ok.mu.Lock()
			defer ok.mu.Unlock()
			for i, r := range ok.got {
				if r.URL.Path == "/" && bytes.Contains(ok.bodies[i], []byte(`"webhook.disabled"`)) {
					return true
				}
			}
			return false
		})
		ok.mu.Lock()
		doc := eventstest.Documented(t)
		for i, r := range ok.got {
			if !bytes.Contains(ok.bodies[i], []byte(`"webhook.disabled"`)) {
				continue
			}
			if r.URL.Path == "/admin" {
				t.Error("another user's webhook received the owner-scoped webhook.disabled")
			}
			eventstest.CheckDocumented(t, doc, ok.bodies[i])
		}
		ok.mu.Unlock()
		// Enabled again: a fresh count, deliveries resume.
		bad.mu.Lock()
		bad.status = http.StatusOK
		bad.mu.Unlock()
		if st, m := f.do(2, "PATCH", "/api/v1/webhooks/"+bm["id"].(string), map[string]any{"enabled": true}); st != 200 || m["enabled"] != true || m["disabled_reason"] != nil {
			t.Fatalf("enable: %d %v", st, m)
		}
		n := bad.n()
		f.emit(events.ChantierCreated, 0)
		waitFor(t, "delivery after enabling", func() bool { return bad.n() > n })
	})
}
