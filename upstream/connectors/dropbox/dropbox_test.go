package dropbox_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dbxstandin "github.com/hubchantier/hubgate/integration/standins/dropbox"
	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/connectors/dropbox"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// instance is one upstream process: its own Service (lanes, locks) on the
// shared database.
type instance struct {
	s   *connectors.Service
	mux *http.ServeMux
}

type fixture struct {
	t     *testing.T
	d     *db.DB
	sb    *dbxstandin.Server
	dir   string
	inst  []*instance
	noRed *http.Client
}

func newFixture(t *testing.T, d *db.DB, instances int) *fixture {
	t.Helper()
	sb := dbxstandin.New()
	t.Cleanup(sb.Close)
	f := &fixture{t: t, d: d, sb: sb, dir: t.TempDir(),
		noRed: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	ring, err := connectors.ParseKeyring("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(context.Background(), `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES ('admin@x.fr', 'admin', 'admin', 'x', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for range instances {
		s := connectors.New(d, ring, connectors.NewRegistry(dropbox.NewType(dropbox.DirContent(f.dir))), connectors.Options{AllowPrivate: true, // the stand-in is on loopback

			AllowHTTP: true, PublicURL: "http://hub.test", RetryBase: 10 * time.Millisecond,
			OAuthClients: map[string]connectors.OAuthClient{"dropbox": {ClientID: sb.ClientID, ClientSecret: sb.ClientSecret,
				AuthURL: sb.URL + "/oauth2/authorize", TokenURL: sb.URL + "/oauth2/token", APIURL: sb.URL}},
		})
		mux := http.NewServeMux()
		s.Register(mux, ctx)
		f.inst = append(f.inst, &instance{s: s, mux: mux})
	}
	return f
}

// do serves one request on instance i as the admin (user 1), or
// anonymously (as the gateway lets the callback through) when anon.
func (f *fixture) do(i int, anon bool, method, target string, body any, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	f.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Header.Set("Content-Type", "application/json")
	c := &assertion.Claims{Method: "anonymous"}
	if !anon {
		c = &assertion.Claims{Subject: "1", Role: "admin", Method: "jwt", Scopes: []string{"read", "write", "admin"}}
	}
	r = r.WithContext(httpx.WithIdentity(r.Context(), c))
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	f.inst[i].mux.ServeHTTP(w, r)
	return w
}

// authorize starts the flow, lets the stand-in's user approve, and
// returns the callback URL (path and query) and the binding cookie.
func (f *fixture) authorize(query string) (string, *http.Cookie) {
	f.t.Helper()
	w := f.do(0, false, "GET", "/api/v1/integrations/dropbox/connect"+query, nil)
	if w.Code != http.StatusFound {
		f.t.Fatalf("connect: %d %s", w.Code, w.Body)
	}
	var ck *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "hub_connect" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		f.t.Fatalf("connect: no HttpOnly SameSite=Lax binding cookie: %v", w.Result().Cookies())
	}
	loc := w.Header().Get("Location")
	u, _ := url.Parse(loc)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("token_access_type") != "offline" || q.Get("redirect_uri") != "http://hub.test/api/v1/integrations/dropbox/callback" {
		f.t.Fatalf("authorize URL lacks PKCE, offline access or the exact redirect URI: %s", loc)
	}
	resp, err := f.noRed.Get(loc)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if back.Host != "hub.test" {
		f.t.Fatalf("stand-in did not redirect back: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return back.RequestURI(), ck
}

// connect runs the whole flow and returns the new connector's id.
func (f *fixture) connect() string {
	f.t.Helper()
	cb, ck := f.authorize("")
	w := f.do(0, true, "GET", cb, nil, ck)
	if w.Code != http.StatusCreated {
		f.t.Fatalf("callback: %d %s", w.Code, w.Body)
	}
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return v["id"].(string)
}

func (f *fixture) get(id string) map[string]any {
	f.t.Helper()
	w := f.do(0, false, "GET", "/api/v1/admin/connectors/"+id, nil)
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return v
}

func (f *fixture) test(i int, id string) map[string]any {
	f.t.Helper()
	w := f.do(i, false, "POST", "/api/v1/admin/connectors/"+id+"/test", nil)
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return v
}

func problemType(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("not a problem: %d %s %s", w.Code, ct, w.Body)
	}
	var p struct{ Type string }
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	return p.Type
}

// TestDropboxConnectFlow: PKCE, exact redirect URI, the state single-use
// and bound to the browser's cookie; tokens sealed, never in an answer or
// the audit header; the user recorded as the connector's owner.
func TestDropboxConnectFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, 1)

		// A callback without the browser's cookie (another browser, or a
		// link an attacker sends) is refused, and burns the state.
		cb, ck := f.authorize("")
		if w := f.do(0, true, "GET", cb, nil); w.Code != 400 || problemType(t, w) != "urn:hubchantier:problem:oauth-state" {
			t.Fatalf("callback without cookie: %d %s", w.Code, w.Body)
		}
		if w := f.do(0, true, "GET", cb, nil, ck); w.Code != 400 {
			t.Fatalf("a state refused once must stay refused: %d %s", w.Code, w.Body)
		}
		// A wrong cookie.
		cb, _ = f.authorize("")
		if w := f.do(0, true, "GET", cb, nil, &http.Cookie{Name: "hub_connect", Value: "forged"}); w.Code != 400 {
			t.Fatalf("forged cookie: %d", w.Code)
		}

		// The customer declines at Dropbox.
		f.sb.Deny(true)
		cb, ck = f.authorize("")
		if w := f.do(0, true, "GET", cb, nil, ck); w.Code != 400 || problemType(t, w) != "urn:hubchantier:problem:oauth-denied" {
			t.Fatalf("denied: %d %s", w.Code, w.Body)
		}
		f.sb.Deny(false)

		// The real flow.
		cb, ck = f.authorize("")
		w := f.do(0, true, "GET", cb, nil, ck)
		if w.Code != http.StatusCreated {
			t.Fatalf("callback: %d %s", w.Code, w.Body)
		}
		var v map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &v)
		id := v["id"].(string)
		cfg := v["config"].(map[string]any)
		if cfg["access_token"] != connectors.Redacted || cfg["refresh_token"] != connectors.Redacted || v["owner_id"] != float64(1) || cfg["connected_by"] != float64(1) {
			t.Fatalf("answer: %v", v)
		}
		// Replaying the callback (a reload) does not connect twice.
		if w := f.do(0, true, "GET", cb, nil, ck); w.Code != 400 {
			t.Fatalf("replayed callback: %d", w.Code)
		}
		// No token in the answer, the audit header, or the row in clear.
		var enc string
		if err := d.QueryRow(context.Background(), `SELECT config_enc FROM connectors WHERE id = ?`, id).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		audit, err := base64.RawURLEncoding.DecodeString(w.Header().Get("X-Hub-Changes"))
		if err != nil {
			t.Fatal(err)
		}
		for _, hay := range []string{w.Body.String(), string(audit), enc} {
			if strings.Contains(hay, "sl.") {
				t.Fatalf("an access token leaked: %s", hay)
			}
		}
		if !strings.Contains(string(audit), `"access_token_changed"`) || !strings.Contains(string(audit), `"connected_by":1`) {
			t.Fatalf("audit header does not record who connected what: %s", audit)
		}
		if got := f.test(0, id); got["ok"] != true {
			t.Fatalf("test connection: %v", got)
		}
		// An unknown provider, and a provider without client credentials.
		if w := f.do(0, false, "GET", "/api/v1/integrations/nope/connect", nil); w.Code != 404 {
			t.Fatalf("unknown provider: %d", w.Code)
		}
	})
}

func (f *fixture) document(id int64, nom, categorie string, content []byte) events.Stored {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, strconv.FormatInt(id, 10)), content, 0o600); err != nil {
		f.t.Fatal(err)
	}
	ev := events.New(events.DocumentCreated, time.Now(), events.System, events.Resource{Type: "documents", ID: strconv.FormatInt(id, 10)},
		map[string]any{"id": id, "chantier_id": 1, "nom": nom, "categorie": categorie})
	b, _ := json.Marshal(ev)
	return events.Stored{ID: ev.ID, Type: ev.Type, Payload: b}
}

func (f *fixture) deliver(id string, ev events.Stored) events.Outcome {
	f.t.Helper()
	return f.inst[0].s.Deliver(context.Background(), events.Delivery{TargetID: id}, ev)
}

// TestDropboxUploads: document.created uploads under
// /Hub-Chantier/{chantier}/{categorie}/ with sanitized, non-ASCII-safe
// names; above the limit through an upload session; a re-delivery is
// idempotent; an expired token is refreshed once on 401; 429 defers.
func TestDropboxUploads(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, 1)
		if _, err := d.Exec(context.Background(), `INSERT INTO chantiers (nom, created_at, updated_at) VALUES ('Rénovation: École/Nord', 0, 0)`); err != nil {
			t.Fatal(err)
		}
		id := f.connect()

		small := []byte("%PDF-1.4 plan")
		if o := f.deliver(id, f.document(1, "plan RDC?.pdf", "plan", small)); o.Err != "" || o.Drop || o.Defer != 0 {
			t.Fatalf("small upload: %+v", o)
		}
		const want = "/hub-chantier/rénovation_ école_nord/plan/plan rdc_ (1).pdf"
		if got, ok := f.sb.File(want); !ok || !bytes.Equal(got, small) {
			t.Fatalf("small file not at %s: %v", want, f.sb.Files())
		}
		// A re-delivery (at least once) finds its upload: no error, no copy.
		if o := f.deliver(id, f.document(1, "plan RDC?.pdf", "plan", small)); o.Err != "" {
			t.Fatalf("re-delivery: %+v", o)
		}
		if n := len(f.sb.Files()); n != 1 {
			t.Fatalf("re-delivery made a copy: %v", f.sb.Files())
		}

		// Above the (test-sized) single-request limit: an upload session.
		if w := f.do(0, false, "PATCH", "/api/v1/admin/connectors/"+id, map[string]any{"config": map[string]any{"upload_limit_bytes": 1000}}); w.Code != 200 {
			t.Fatalf("patch: %d %s", w.Code, w.Body)
		}
		big := bytes.Repeat([]byte("0123456789"), 350) // 3500 bytes: start, 2 appends, finish
		if o := f.deliver(id, f.document(2, "photo.jpg", "photo", big)); o.Err != "" {
			t.Fatalf("session upload: %+v", o)
		}
		if got, ok := f.sb.File("/hub-chantier/rénovation_ école_nord/photo/photo (2).jpg"); !ok || !bytes.Equal(got, big) {
			t.Fatalf("big file wrong: %d bytes, %v", len(got), ok)
		}
		if f.sb.Calls("/2/files/upload_session/append_v2") != 2 || f.sb.Calls("/2/files/upload_session/finish") != 1 {
			t.Fatalf("session calls: append %d finish %d", f.sb.Calls("/2/files/upload_session/append_v2"), f.sb.Calls("/2/files/upload_session/finish"))
		}

		// The vendor says the token expired: one refresh, one retry.
		f.sb.ExpireAll()
		if o := f.deliver(id, f.document(3, "contrat.pdf", "contrat", small)); o.Err != "" {
			t.Fatalf("after expiry: %+v", o)
		}
		if n := f.sb.Refreshes(); n != 1 {
			t.Fatalf("refreshes = %d, want 1", n)
		}

		// 429 with Retry-After: the delivery is deferred by that long.
		f.sb.Throttle(1)
		o := f.deliver(id, f.document(4, "r.pdf", "rapport", small))
		if o.Defer < time.Second || o.Drop {
			t.Fatalf("429: %+v", o)
		}
		// A document whose file is not in the store: dropped, said why.
		ev := f.document(5, "x.pdf", "autre", small)
		os.Remove(filepath.Join(f.dir, "5"))
		if o := f.deliver(id, ev); !strings.Contains(o.Err, "not in the document store") {
			t.Fatalf("missing file: %+v", o)
		}
	})
}

// TestConcurrentRefreshIsSingle: two instances, eight concurrent calls
// with a token about to expire: exactly one refresh at the vendor, all
// calls succeed (the lease makes the others wait and reuse its token).
func TestConcurrentRefreshIsSingle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, 2)
		f.sb.ExpiresIn = time.Minute // within the refresh margin: refresh before use
		id := f.connect()
		f.sb.ExpiresIn = time.Hour
		var wg sync.WaitGroup
		res := make([]map[string]any, 8)
		for i := range res {
			wg.Add(1)
			go func() { defer wg.Done(); res[i] = f.test(i%2, id) }()
		}
		wg.Wait()
		for i, r := range res {
			if r["ok"] != true {
				t.Fatalf("call %d: %v", i, r)
			}
		}
		if n := f.sb.Refreshes(); n != 1 {
			t.Fatalf("refreshes = %d, want exactly 1", n)
		}
		// Refreshed before expiry: no call saw a 401 (one account call per test).
		if n := f.sb.Calls("/2/users/get_current_account"); n != 8 {
			t.Fatalf("account calls = %d, want 8 (no 401 retries)", n)
		}
	})
}

// TestRefreshFailureAndDisconnect: a refused refresh marks the connector
// error and emits connector.error to its owner; reconnecting clears it;
// deleting revokes the token at Dropbox.
func TestRefreshFailureAndDisconnect(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, 1)
		id := f.connect()
		f.sb.ExpireAll()
		f.sb.RejectRefresh(true)
		r := f.test(0, id)
		if r["ok"] != false || !strings.Contains(r["error"].(string), "connect the integration again") {
			t.Fatalf("test after refused refresh: %v", r)
		}
		v := f.get(id)
		if v["sync_status"] != "error" || !strings.Contains(v["error_message"].(string), "invalid_grant") {
			t.Fatalf("connector: %v", v)
		}
		var typ string
		var owner int64
		var payload string
		if err := d.QueryRow(context.Background(), `SELECT type, owner_id, payload FROM events WHERE type = ?`, connectors.ConnectorError).Scan(&typ, &owner, &payload); err != nil {
			t.Fatalf("connector.error: %v", err)
		}
		if owner != 1 || strings.Contains(payload, "sl.") {
			t.Fatalf("event: owner %d %s", owner, payload)
		}
		// A second failure emits no second event.
		f.test(0, id)
		var n int
		_ = d.QueryRow(context.Background(), `SELECT COUNT(*) FROM events WHERE type = ?`, connectors.ConnectorError).Scan(&n)
		if n != 1 {
			t.Fatalf("connector.error events = %d", n)
		}

		// Reconnect: same connector, fresh tokens, status cleared.
		f.sb.RejectRefresh(false)
		cb, ck := f.authorize("?connector=" + id)
		if w := f.do(0, true, "GET", cb, nil, ck); w.Code != 200 {
			t.Fatalf("reconnect: %d %s", w.Code, w.Body)
		}
		if v := f.get(id); v["sync_status"] == "error" {
			t.Fatalf("still error: %v", v)
		}
		if r := f.test(0, id); r["ok"] != true {
			t.Fatalf("after reconnect: %v", r)
		}

		// Disconnect revokes at the vendor.
		if w := f.do(0, false, "DELETE", "/api/v1/admin/connectors/"+id, nil); w.Code != 204 {
			t.Fatalf("delete: %d", w.Code)
		}
		if f.sb.Revoked() != 1 {
			t.Fatalf("revoked = %d", f.sb.Revoked())
		}
	})
}

func TestPathFor(t *testing.T) {
	for _, c := range []struct{ chantier, cat, nom, want string }{
		{"Villa Léa", "plan", "plan.pdf", "/Hub-Chantier/Villa Léa/plan/plan (9).pdf"},
		{"../..", "photo", "..", "/Hub-Chantier/_/photo/_ (9)"},
		{"A/B\\C", "autre", "  x\ty\n.txt. ", "/Hub-Chantier/A_B_C/autre/x_y_ (9).txt"},
	} {
		if got := dropbox.PathFor(dropbox.Root, c.chantier, c.cat, c.nom, 9); got != c.want {
			t.Errorf("PathFor(%q, %q, %q) = %q, want %q", c.chantier, c.cat, c.nom, got, c.want)
		}
	}
}

// FuzzSanitize: a segment never holds a separator, a control character,
// a leading or trailing dot or space, and is never empty.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"plan.pdf", "../etc", "", " . ", "a/b\\c", "é\x00\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := dropbox.Sanitize(s)
		if out == "" || out == "." || out == ".." || strings.ContainsAny(out, "/\\<>:\"|?*\x00\n\r\t") ||
			strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || strings.HasSuffix(out, ".") || strings.HasPrefix(out, ".") {
			t.Fatalf("Sanitize(%q) = %q", s, out)
		}
	})
}
