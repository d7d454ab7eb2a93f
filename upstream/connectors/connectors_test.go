package connectors_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	slackstandin "github.com/hubchantier/hubgate/integration/standins/slack"
	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/connectors/silae"
	"github.com/hubchantier/hubgate/upstream/connectors/slack"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

type fixture struct {
	t   *testing.T
	d   *db.DB
	s   *connectors.Service
	mux *http.ServeMux
}

// newFixture: the service with the Slack type, users 1 admin and 2
// conducteur, and (dispatch) a dispatcher with workers workers.
func newFixture(t *testing.T, d *db.DB, opt connectors.Options, workers int) *fixture {
	t.Helper()
	ring, err := connectors.ParseKeyring("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	opt.AllowHTTP = true
	opt.AllowPrivate = true
	s := connectors.New(d, ring, connectors.NewRegistry(slack.Type, silae.Type), opt)
	for _, role := range []string{"admin", "conducteur"} {
		if _, err := d.Exec(context.Background(), `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, 'x', 0, 0)`,
			role+"@x.fr", role, role); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	ctx, cancel := context.WithCancel(context.Background())
	s.Register(mux, ctx)
	if workers > 0 {
		p := events.NewDispatcher(d, events.Options{Poll: 5 * time.Millisecond, BackoffBase: 5 * time.Millisecond, Workers: workers})
		p.Register(s)
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	} else {
		t.Cleanup(cancel)
	}
	return &fixture{t: t, d: d, s: s, mux: mux}
}

var roles = map[int]string{1: "admin", 2: "conducteur"}

func (f *fixture) do(uid int, method, path string, body any) (int, map[string]any, http.Header) {
	f.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Content-Type", "application/json")
	c := &assertion.Claims{Subject: strconv.Itoa(uid), Role: roles[uid], Method: "jwt", Scopes: []string{"read", "write", "admin"}}
	r = r.WithContext(httpx.WithIdentity(r.Context(), c))
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m, w.Header()
}

func (f *fixture) emit(typ string, data map[string]any) {
	f.t.Helper()
	tx, err := f.d.BeginTx(context.Background(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer tx.Rollback()
	ev := events.New(typ, time.Now(), events.System, events.Resource{Type: "x", ID: "1"}, data)
	if err := events.Append(context.Background(), f.d, tx, ev); err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) create(cfg map[string]any) string {
	f.t.Helper()
	code, m, _ := f.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "slack", "name": "Slack", "config": cfg})
	if code != 201 {
		f.t.Fatalf("create: %d %v", code, m)
	}
	return m["id"].(string)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAdminAPIKeepsSecretsWriteOnly: the webhook URL (a credential) is
// never in an answer, in the audit changes header or in the database in
// clear; only admins reach the API; a redacted value sent back keeps the
// stored secret.
func TestAdminAPIKeepsSecretsWriteOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{}, 0)
		sl := slackstandin.New()
		defer sl.Close()
		secret := sl.WebhookURL()
		if code, m, _ := f.do(2, "POST", "/api/v1/admin/connectors", map[string]any{"type": "slack", "config": map[string]any{"webhook_url": secret}}); code != 403 {
			t.Fatalf("conducteur created a connector: %d %v", code, m)
		}
		code, m, h := f.do(1, "POST", "/api/v1/admin/connectors", map[string]any{"type": "slack", "name": "Alertes", "config": map[string]any{"webhook_url": secret}})
		if code != 201 {
			t.Fatalf("create: %d %v", code, m)
		}
		id := m["id"].(string)
		check := func(what string, s string) {
			t.Helper()
			if strings.Contains(s, "XXXXSTANDIN") {
				t.Fatalf("%s holds the secret: %s", what, s)
			}
		}
		b, _ := json.Marshal(m)
		check("create answer", string(b))
		raw, _ := base64.RawURLEncoding.DecodeString(h.Get(auditchain.ChangesHeader))
		if len(raw) == 0 {
			t.Fatal("no X-Hub-Changes on create")
		}
		check("changes header", string(raw))
		if cfg := m["config"].(map[string]any); cfg["webhook_url"] != connectors.Redacted {
			t.Fatalf("config = %v", cfg)
		}
		var enc string
		if err := d.QueryRow(context.Background(), `SELECT config_enc FROM connectors WHERE id = ?`, id).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		check("stored row", enc)
		if !strings.HasPrefix(enc, "k1:") {
			t.Fatalf("stored config does not name its key: %.10s", enc)
		}
		_, m, _ = f.do(1, "GET", "/api/v1/admin/connectors/"+id, nil)
		b, _ = json.Marshal(m)
		check("get answer", string(b))
		// Echoing the redacted value back keeps the secret.
		code, m, h = f.do(1, "PATCH", "/api/v1/admin/connectors/"+id, map[string]any{"name": "Renamed", "config": map[string]any{"webhook_url": connectors.Redacted}})
		if code != 200 || m["name"] != "Renamed" {
			t.Fatalf("patch: %d %v", code, m)
		}
		raw, _ = base64.RawURLEncoding.DecodeString(h.Get(auditchain.ChangesHeader))
		check("patch changes", string(raw))
		if code, m, _ = f.do(1, "POST", "/api/v1/admin/connectors/"+id+"/test", nil); code != 200 || m["ok"] != true {
			t.Fatalf("test connection after redacted patch: %d %v", code, m)
		}
		// A wrong URL fails the test connection, without repeating it.
		code, m, h = f.do(1, "PATCH", "/api/v1/admin/connectors/"+id, map[string]any{"config": map[string]any{"webhook_url": sl.URL + "/services/T/B/WRONGSECRET"}})
		if code != 200 {
			t.Fatalf("patch: %d %v", code, m)
		}
		raw, _ = base64.RawURLEncoding.DecodeString(h.Get(auditchain.ChangesHeader))
		if strings.Contains(string(raw), "WRONGSECRET") || !strings.Contains(string(raw), "webhook_url_changed") {
			t.Fatalf("changes of a secret update: %s", raw)
		}
		code, m, _ = f.do(1, "POST", "/api/v1/admin/connectors/"+id+"/test", nil)
		if b, _ := json.Marshal(m); code != 200 || m["ok"] != false || strings.Contains(string(b), "WRONGSECRET") {
			t.Fatalf("test of a wrong webhook: %d %s", code, b)
		}
		if code, _, _ := f.do(1, "DELETE", "/api/v1/admin/connectors/"+id, nil); code != 204 {
			t.Fatalf("delete: %d", code)
		}
		if code, m, _ := f.do(1, "GET", "/api/v1/admin/connectors/"+id, nil); code != 404 || m["type"] != "urn:hubchantier:problem:not-found" {
			t.Fatalf("get deleted: %d %v", code, m)
		}
	})
}

// TestSlackReceivesEvents: chantier.created and urgent signalements reach
// Slack through the dispatcher as Block Kit messages; a non-urgent
// signalement does not.
func TestSlackReceivesEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{}, 4)
		sl := slackstandin.New()
		defer sl.Close()
		f.create(map[string]any{"bot_token": sl.Token, "channel": sl.Channel, "api_url": sl.APIURL()})
		f.emit(events.ChantierCreated, map[string]any{"id": 1, "nom": "Tour <A>", "adresse": "12 rue des Lilas"})
		f.emit(events.SignalementCreated, map[string]any{"id": 2, "titre": "Petite fissure", "urgent": false})
		f.emit(events.SignalementCreated, map[string]any{"id": 3, "titre": "Fuite de gaz", "urgent": true, "gravite": "critique", "chantier_id": 1})
		waitFor(t, "two messages", func() bool { return len(sl.Messages()) >= 2 })
		time.Sleep(50 * time.Millisecond)
		msgs := sl.Messages()
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m["text"].(string))
			if m["channel"] != sl.Channel || len(m["blocks"].([]any)) == 0 {
				t.Fatalf("message without channel or blocks: %v", m)
			}
		}
		joined := strings.Join(texts, "\n")
		if len(msgs) != 2 || !strings.Contains(joined, "Nouveau chantier Tour &lt;A&gt;") ||
			!strings.Contains(joined, "<!channel> Signalement urgent : Fuite de gaz") || strings.Contains(joined, "fissure") {
			t.Fatalf("messages: %q", texts)
		}
	})
}

// TestHangingConnectorDoesNotDelayOthers: with a dispatcher of only two
// workers, a connector whose vendor hangs holds one of them at most (its
// lane's single slot); the other connector receives every event while the
// first vendor still hangs.
func TestHangingConnectorDoesNotDelayOthers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{Timeout: time.Minute}, 2)
		bad, good := slackstandin.New(), slackstandin.New()
		defer bad.Close()
		defer good.Close()
		defer bad.Release()
		bad.Hang(true)
		f.create(map[string]any{"webhook_url": bad.WebhookURL()})
		f.create(map[string]any{"webhook_url": good.WebhookURL()})
		const n = 5
		for i := range n {
			f.emit(events.ChantierCreated, map[string]any{"id": i, "nom": "C" + strconv.Itoa(i)})
		}
		<-bad.Hanging()
		waitFor(t, "every message at the healthy connector", func() bool { return len(good.Messages()) == n })
		select {
		case <-bad.Hanging():
			t.Fatal("the hanging connector was called twice at once: its lane should hold one call")
		default:
		}
		if len(bad.Messages()) != 0 {
			t.Fatal("the hanging stand-in answered")
		}
	})
}

// TestSlackRetryAfterDefersDelivery: Slack's 429 Retry-After defers the
// delivery by that long without counting it as a failure; 5xx is a
// failure to retry; both end delivered.
func TestSlackRetryAfterDefersDelivery(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{}, 0)
		sl := slackstandin.New()
		defer sl.Close()
		id := f.create(map[string]any{"webhook_url": sl.WebhookURL()})
		payload, _ := json.Marshal(events.New(events.ChantierCreated, time.Now(), events.System, events.Resource{Type: "chantiers", ID: "1"}, map[string]any{"nom": "X"}))
		ev := events.Stored{ID: "evt_1", Type: events.ChantierCreated, Payload: payload}
		ctx := context.Background()
		sl.Throttle(1, "7")
		o := f.s.Deliver(ctx, events.Delivery{TargetID: id, Attempt: 1}, ev)
		if o.OK || o.Defer != 7*time.Second || o.Drop {
			t.Fatalf("429 Retry-After: 7 gave %+v", o)
		}
		sl.Fail(1)
		o = f.s.Deliver(ctx, events.Delivery{TargetID: id, Attempt: 1}, ev)
		if o.OK || o.Defer != 0 || o.Drop || o.Err == "" {
			t.Fatalf("500 gave %+v", o)
		}
		o = f.s.Deliver(ctx, events.Delivery{TargetID: id, Attempt: 2}, ev)
		if !o.OK || len(sl.Messages()) != 1 {
			t.Fatalf("then %+v, %d messages", o, len(sl.Messages()))
		}
	})
}

// TestWeeklySummaryOncePerWeek: the weekly job posts the previous week's
// pointages per chantier; the same period run again sends nothing more;
// the sync log records it.
func TestWeeklySummaryOncePerWeek(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{}, 0)
		sl := slackstandin.New()
		defer sl.Close()
		id := f.create(map[string]any{"webhook_url": sl.WebhookURL()})
		ctx := context.Background()
		if _, err := d.Exec(ctx, `INSERT INTO chantiers (nom, created_at, updated_at) VALUES ('Tour A', 0, 0)`); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			date  string
			h     float64
			valid bool
		}{{"2025-03-03", 8, true}, {"2025-03-09", 4, false}, {"2025-03-10", 7, true}, {"2025-02-28", 6, true}} {
			if _, err := d.Exec(ctx, `INSERT INTO pointages (chantier_id, user_id, date, heures, type, valide, created_at, updated_at)
				VALUES (1, 2, ?, ?, 'normal', ?, 0, 0)`, p.date, p.h, p.valid); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Date(2025, 3, 10, 0, 0, 5, 0, time.UTC) // Monday of W11
		for range 2 {
			if err := f.s.RunJob(ctx, connectors.JobWeekly, "2025-W11", now); err != nil {
				t.Fatal(err)
			}
		}
		msgs := sl.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d summaries, want 1", len(msgs))
		}
		text := msgs[0]["text"].(string)
		if !strings.Contains(text, "03/03/2025 au 09/03/2025") || !strings.Contains(text, ": 12 h, dont 8 h validées (2 pointages)") {
			t.Fatalf("summary: %s", text)
		}
		code, m, _ := f.do(1, "GET", "/api/v1/admin/connectors/"+id+"/sync-logs", nil)
		logs := m["data"].([]any)
		if code != 200 || len(logs) != 1 || logs[0].(map[string]any)["status"] != "succeeded" || logs[0].(map[string]any)["items_sent"] != 1.0 {
			t.Fatalf("sync logs: %d %v", code, m)
		}
		_, m, _ = f.do(1, "GET", "/api/v1/admin/connectors/"+id, nil)
		if m["sync_status"] != "succeeded" || m["last_sync_at"] == nil {
			t.Fatalf("connector after sync: %v", m)
		}
	})
}

// TestSlackInbound: Slack's Events API requests are verified (v0 signing
// secret, five-minute tolerance), the url_verification handshake answered,
// and a retried event id acknowledged without being handled twice.
func TestSlackInbound(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, connectors.Options{}, 0)
		sl := slackstandin.New()
		defer sl.Close()
		const signing = "8f742231b10e8888abcd99yyyzzz85a5"
		id := f.create(map[string]any{"webhook_url": sl.WebhookURL(), "signing_secret": signing})
		post := func(body string, ts int64, sig string) (int, map[string]any) {
			r := httptest.NewRequest("POST", "/api/v1/connectors/"+id+"/inbound", strings.NewReader(body))
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
			r.Header.Set("X-Slack-Signature", sig)
			w := httptest.NewRecorder()
			f.mux.ServeHTTP(w, r)
			var m map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &m)
			return w.Code, m
		}
		now := time.Now().Unix()
		hs := `{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`
		if code, m := post(hs, now, slack.Sign(signing, now, []byte(hs))); code != 200 || m["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("handshake: %d %v", code, m)
		}
		ev := `{"type":"event_callback","event_id":"Ev0PV52K21","event":{"type":"app_mention"}}`
		if code, m := post(ev, now, slack.Sign(signing, now, []byte(ev))); code != 200 || m["duplicate"] != nil {
			t.Fatalf("event: %d %v", code, m)
		}
		if code, m := post(ev, now, slack.Sign(signing, now, []byte(ev))); code != 200 || m["duplicate"] != true {
			t.Fatalf("retried event: %d %v", code, m)
		}
		if code, m := post(ev, now, slack.Sign("wrong", now, []byte(ev))); code != 401 || m["type"] != "urn:hubchantier:problem:inbound-signature" {
			t.Fatalf("bad signature: %d %v", code, m)
		}
		old := now - 600
		if code, _ := post(ev, old, slack.Sign(signing, old, []byte(ev))); code != 401 {
			t.Fatalf("stale timestamp: %d", code)
		}
		if err := f.s.PurgeInbound(context.Background(), time.Now().Add(8*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var n int
		_ = d.QueryRow(context.Background(), `SELECT COUNT(*) FROM connector_inbound`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d inbound ids kept past the window", n)
		}
	})
}

// TestKeyRotationReencrypts: a config sealed under k1 opens once k2 is
// the current key (k1 kept to open), Reencrypt moves it to k2, and then
// a keyring without k1 opens it.
func TestKeyRotationReencrypts(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := context.Background()
	f := newFixture(t, d, connectors.Options{}, 0)
	id := f.create(map[string]any{"webhook_url": "http://127.0.0.1:1/services/x"})
	ring2, err := connectors.ParseKeyring("k2:" + key(2) + ",k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	reg := connectors.NewRegistry(slack.Type, silae.Type)
	s2 := connectors.New(d, ring2, reg, connectors.Options{AllowHTTP: true})
	n, err := s2.Reencrypt(ctx)
	if err != nil || n != 1 {
		t.Fatalf("reencrypt: %d %v", n, err)
	}
	if n, err := s2.Reencrypt(ctx); err != nil || n != 0 {
		t.Fatalf("second reencrypt: %d %v", n, err)
	}
	var enc string
	_ = d.QueryRow(ctx, `SELECT config_enc FROM connectors WHERE id = ?`, id).Scan(&enc)
	ring3, _ := connectors.ParseKeyring("k2:" + key(2))
	if _, err := ring3.Open(id, enc); err != nil || connectors.KeyIDOf(enc) != "k2" {
		t.Fatalf("after rotation: %v (key %s)", err, connectors.KeyIDOf(enc))
	}
	if _, err := ring3.Open("con_other", enc); err == nil {
		t.Fatal("a ciphertext opened for another connector id")
	}
	for _, bad := range []string{"", "k1", "k1:short", "k 1:" + key(1), "k1:" + key(1) + ",k1:" + key(2)} {
		if _, err := connectors.ParseKeyring(bad); err == nil || strings.Contains(err.Error(), key(1)) {
			t.Fatalf("ParseKeyring(%q) = %v", bad, err)
		}
	}
}
