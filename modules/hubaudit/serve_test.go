package hubaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/testutil/hubtest"
	"github.com/hubchantier/hubgate/modules/hub"
)

func testHandler(t testing.TB) *Handler {
	t.Helper()
	j := openTest(t, t.TempDir(), 1<<20)
	t.Cleanup(func() { j.Close() })
	h := &Handler{journal: j, MaxJournalSize: 1 << 30, onFull: OnFullRefuseSensitive, sensitive: DefaultSensitive,
		noHash: DefaultNoBodyHash, secret: testSecret, bodyKey: auditchain.BodyKey(testSecret),
		log: zap.NewNop(), stream: zap.NewNop(), metrics: getMetrics(), now: time.Now, lastLoud: &rateLimitedLog{},
		routes: hubtest.HubRoutes(t)}
	for _, r := range append(append([]*Route{}, h.sensitive...), h.noHash...) {
		if err := r.Compile(); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// testSecret stands for the hub app's shared secret.
var testSecret = []byte("test-gateway-secret-of-32-bytes!")

// durableCheck fails the test if the response header is sent before the
// journal holds the record durably.
type durableCheck struct {
	*httptest.ResponseRecorder
	t *testing.T
	j *Journal
}

func (d *durableCheck) WriteHeader(code int) {
	lim, _ := d.j.limit(d.j.fseq)
	if d.j.Backlog() != 1 || lim <= frameHeaderLen+100 {
		d.t.Errorf("header %d sent before the record was durable (backlog %d, durable %d)", code, d.j.Backlog(), lim)
	}
	d.ResponseRecorder.WriteHeader(code)
}

func (d *durableCheck) Write(b []byte) (int, error) { return d.ResponseRecorder.Write(b) }

func TestServeHTTPRecords(t *testing.T) {
	body := `{"nom":"Chantier A"}`
	bodySum := sha256.Sum256([]byte(body))
	login := `{"email":"a@example.com","password":"hunter2"}`
	alice := &hub.Identity{Subject: "7", Method: "api_key", KeyID: "key1"}
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		next    func(w http.ResponseWriter, r *http.Request) error
		check   func(t *testing.T, rec auditchain.Record, resp *httptest.ResponseRecorder)
		wantErr bool
	}{
		{
			name: "401 before authentication", method: "GET", path: "/api/v1/chantiers",
			next: func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(401)
				return nil
			},
			check: func(t *testing.T, rec auditchain.Record, resp *httptest.ResponseRecorder) {
				if rec.StatusCode != 401 || rec.UserID != "" || rec.Action != "list_chantiers" || rec.Endpoint != "/api/v1/chantiers" {
					t.Fatalf("record %+v", rec)
				}
			},
		},
		{
			name: "update with identity, body and changes", method: "PATCH", path: "/api/v1/chantiers/42", body: body,
			next: func(w http.ResponseWriter, r *http.Request) error {
				hub.SetIdentity(r, alice)
				_, _ = io.ReadAll(r.Body)
				w.Header().Set(auditchain.ChangesHeader, auditchain.EncodeChanges(map[string]any{"nom": "A", "password": "p"}, map[string]any{"nom": "B", "password": "q"}))
				_, _ = w.Write([]byte(`{}`))
				return nil
			},
			check: func(t *testing.T, rec auditchain.Record, resp *httptest.ResponseRecorder) {
				if rec.StatusCode != 200 || rec.UserID != "7" || rec.APIKeyID != "key1" || rec.Action != "update_chantier" ||
					rec.ResourceType != "chantier" || rec.ResourceID != "42" {
					t.Fatalf("record %+v", rec)
				}
				// Keyed (issue 10): a plain SHA-256 of a small body is
				// reversed by guessing; only the secret's holder can check.
				if rec.RequestBodyHash == hex.EncodeToString(bodySum[:]) || strings.Contains(rec.RequestBodyHash, hex.EncodeToString(bodySum[:])) {
					t.Fatalf("body hash %s is the plain SHA-256 of the body", rec.RequestBodyHash)
				}
				if want := auditchain.BodyHash(testSecret, []byte(body)); rec.RequestBodyHash != want {
					t.Fatalf("body hash %s, want %s", rec.RequestBodyHash, want)
				}
				if got := string(rec.Changes); got != `{"after":{"nom":"B","password":"[REDACTED]"},"before":{"nom":"A","password":"[REDACTED]"}}` {
					t.Fatalf("changes %s", got)
				}
				if resp.Header().Get(auditchain.ChangesHeader) != "" {
					t.Fatal("X-Hub-Changes reached the client")
				}
			},
		},
		{
			name: "login body has no hash at all", method: "POST", path: "/api/auth/login", body: login,
			next: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = io.ReadAll(r.Body)
				w.Header().Set(auditchain.AccountHeader, auditchain.SealAccount(testSecret, "7"))
				w.WriteHeader(401)
				return nil
			},
			check: func(t *testing.T, rec auditchain.Record, resp *httptest.ResponseRecorder) {
				if rec.RequestBodyHash != "" || rec.Action != "login" {
					t.Fatalf("login record %+v", rec)
				}
				if rec.AttemptedUserID != "7" {
					t.Fatalf("attempted user %q, want 7", rec.AttemptedUserID)
				}
				if resp.Header().Get(auditchain.AccountHeader) != "" {
					t.Fatal("the account report reached the client")
				}
			},
		},
		{
			name: "login with an unknown email names no account", method: "POST", path: "/api/auth/login", body: login,
			next: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = io.ReadAll(r.Body)
				w.Header().Set(auditchain.AccountHeader, auditchain.SealAccount(testSecret, ""))
				w.WriteHeader(401)
				return nil
			},
			check: func(t *testing.T, rec auditchain.Record, resp *httptest.ResponseRecorder) {
				if rec.AttemptedUserID != "" || rec.UserID != "" || resp.Header().Get(auditchain.AccountHeader) != "" {
					t.Fatalf("record %+v, header %q", rec, resp.Header().Get(auditchain.AccountHeader))
				}
			},
		},
		{
			name: "OAuth form body has no hash", method: "POST", path: "/oauth/login", body: "email=a%40b.c&password=hunter2",
			next: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = io.ReadAll(r.Body)
				w.WriteHeader(303)
				return nil
			},
			check: func(t *testing.T, rec auditchain.Record, _ *httptest.ResponseRecorder) {
				if rec.RequestBodyHash != "" {
					t.Fatalf("hash of an OAuth form: %s", rec.RequestBodyHash)
				}
			},
		},
		{
			name: "unread body has no hash", method: "POST", path: "/api/v1/chantiers", body: body,
			next: func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(401); return nil },
			check: func(t *testing.T, rec auditchain.Record, _ *httptest.ResponseRecorder) {
				if rec.RequestBodyHash != "" {
					t.Fatalf("hash of an unread body: %s", rec.RequestBodyHash)
				}
			},
		},
		{
			name: "201 takes the id from Location", method: "POST", path: "/api/v1/chantiers", body: body,
			next: func(w http.ResponseWriter, r *http.Request) error {
				_, _ = io.ReadAll(r.Body)
				w.Header().Set("Location", "/api/v1/chantiers/99")
				w.WriteHeader(201)
				return nil
			},
			check: func(t *testing.T, rec auditchain.Record, _ *httptest.ResponseRecorder) {
				if rec.Action != "create_chantier" || rec.ResourceID != "99" || rec.RequestBodyHash == "" {
					t.Fatalf("record %+v", rec)
				}
			},
		},
		{
			name: "error for handle_errors", method: "GET", path: "/api/v1/stats",
			next: func(w http.ResponseWriter, r *http.Request) error {
				return caddyhttp.Error(http.StatusBadGateway, io.ErrUnexpectedEOF)
			},
			wantErr: true,
			check: func(t *testing.T, rec auditchain.Record, _ *httptest.ResponseRecorder) {
				if rec.StatusCode != 502 {
					t.Fatalf("status %d, want 502", rec.StatusCode)
				}
			},
		},
		{
			name: "nothing written is a 200", method: "GET", path: "/healthz",
			next: func(w http.ResponseWriter, r *http.Request) error { return nil },
			check: func(t *testing.T, rec auditchain.Record, _ *httptest.ResponseRecorder) {
				if rec.StatusCode != 200 || rec.Action != "health_check" {
					t.Fatalf("record %+v", rec)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHandler(t)
			var rd io.Reader
			if tt.body != "" {
				rd = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.path, rd)
			req.Header.Set("User-Agent", "test-agent")
			repl := caddy.NewReplacer()
			req = caddyhttp.PrepareRequest(req, repl, nil, nil)
			caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, "192.0.2.10")
			resp := &durableCheck{ResponseRecorder: httptest.NewRecorder(), t: t, j: h.journal}
			err := h.ServeHTTP(resp, req, caddyhttp.HandlerFunc(tt.next))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			h.journal.Close()
			recs := readAll(t, h.journal.dir)
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			rec := recs[0]
			rid := resp.Header().Get(hub.RequestIDHeader)
			if rid == "" || rec.RequestID != rid || rec.IPAddress != "192.0.2.10" || rec.UserAgent != "test-agent" || !rec.Check() {
				t.Fatalf("request id %q, record %+v", rid, rec)
			}
			tt.check(t, rec, resp.ResponseRecorder)
		})
	}
}

func TestJournalFullPolicy(t *testing.T) {
	tests := []struct {
		policy, method string
		want           int
	}{
		{OnFullRefuseSensitive, "POST", 503},
		{OnFullRefuseSensitive, "GET", 200},
		{OnFullDrop, "POST", 200},
	}
	for _, tt := range tests {
		t.Run(tt.policy+" "+tt.method, func(t *testing.T) {
			h := testHandler(t)
			h.onFull, h.MaxJournalSize = tt.policy, 1 // full from the start
			req := caddyhttp.PrepareRequest(httptest.NewRequest(tt.method, "/api/v1/chantiers", nil), caddy.NewReplacer(), nil, nil)
			w := httptest.NewRecorder()
			called := false
			_ = h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
				return nil
			}))
			if w.Code != tt.want || called != (tt.want == 200) {
				t.Fatalf("status %d (called %v), want %d", w.Code, called, tt.want)
			}
			if tt.want == 503 && (w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "audit-unavailable")) {
				t.Fatalf("503 without Retry-After or problem type: %v %s", w.Header(), w.Body)
			}
			if h.journal.Backlog() != 0 {
				t.Fatal("a record was journaled while full")
			}
		})
	}
}

// describeCase is a request and what describe should name it.
type describeCase struct {
	method, path, location string
	action, typ, id        string
}

// checkDescribe fails for each case that describe names otherwise under rt.
func checkDescribe(t *testing.T, rt *hub.Routes, cases []describeCase) {
	t.Helper()
	for _, tt := range cases {
		a, typ, id := describe(rt, tt.method, rt.Template(tt.path), tt.path, tt.location)
		if a != tt.action || typ != tt.typ || id != tt.id {
			t.Errorf("%s %s = %q %q %q, want %q %q %q", tt.method, tt.path, a, typ, id, tt.action, tt.typ, tt.id)
		}
	}
}

func TestDescribe(t *testing.T) {
	checkDescribe(t, hubtest.HubRoutes(t), []describeCase{
		{"POST", "/api/v1/chantiers", "/api/v1/chantiers/5", "create_chantier", "chantier", "5"},
		{"GET", "/api/v1/chantiers", "", "list_chantiers", "chantier", ""},
		{"GET", "/api/v1/chantiers/5", "", "read_chantier", "chantier", "5"},
		{"PUT", "/api/v1/pointages/8", "", "update_pointage", "pointage", "8"},
		{"DELETE", "/api/v1/signalements/3", "", "delete_signalement", "signalement", "3"},
		{"POST", "/api/auth/login", "", "login", "session", ""},
		{"POST", "/api/auth/api-keys", "", "create_api_key", "api_key", ""},
		{"DELETE", "/api/auth/api-keys/abc123", "", "revoke_api_key", "api_key", "abc123"},
		{"POST", "/api/auth/api-keys/abc123/rotate", "", "rotate_api_key", "api_key", "abc123"},
		{"GET", "/api/v1/admin/audit-logs", "", "list_audit_logs", "audit_log", ""},
		{"GET", "/api/v1/stats", "", "read_stats", "", ""},
		{"POST", "/oauth/token", "", "oauth_token", "oauth_token", ""},
		{"GET", "/nope", "", "read_other", "", ""},
		{"GET", "/api/v1/unknown/1", "", "read_other", "", ""},
	})
}

// TestServeHTTPRecordsPanics: a handler inside hub_audit that panics (Caddy
// does not recover; reverse_proxy itself panics with http.ErrAbortHandler
// when the upstream's body breaks while a transformer still buffers it)
// still leaves its record: the upstream may have acted. The panic goes on.
func TestServeHTTPRecordsPanics(t *testing.T) {
	for _, tt := range []struct {
		name  string
		value any
	}{
		{"abort handler", http.ErrAbortHandler},
		{"bug", "index out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := testHandler(t)
			req := caddyhttp.PrepareRequest(httptest.NewRequest("POST", "/api/v1/chantiers", strings.NewReader(`{}`)), caddy.NewReplacer(), nil, nil)
			var got any
			func() {
				defer func() { got = recover() }()
				_ = h.ServeHTTP(httptest.NewRecorder(), req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					_, _ = io.ReadAll(r.Body)
					panic(tt.value)
				}))
			}()
			if got != tt.value {
				t.Fatalf("panic value %v, want %v (the panic must go on)", got, tt.value)
			}
			h.journal.Close()
			recs := readAll(t, h.journal.dir)
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			if recs[0].StatusCode != http.StatusInternalServerError || recs[0].Action != "create_chantier" {
				t.Fatalf("record %+v", recs[0])
			}
		})
	}
}

// TestClientRequestIDKeptApart: two requests sending one X-Request-Id get
// two gateway-made request ids and event ids; the client's is kept, in its
// own field, on both (issue 10).
func TestClientRequestIDKeptApart(t *testing.T) {
	h := testHandler(t)
	var rids []string
	for i := 0; i < 2; i++ {
		req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/api/v1/chantiers", nil), caddy.NewReplacer(), nil, nil)
		req.Header.Set(hub.RequestIDHeader, "client-chosen-1")
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })); err != nil {
			t.Fatal(err)
		}
		rids = append(rids, w.Header().Get(hub.RequestIDHeader))
	}
	h.journal.Close()
	recs := readAll(t, h.journal.dir)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	a, b := recs[0], recs[1]
	if a.RequestID == b.RequestID || a.EventID == b.EventID || a.RequestID == "client-chosen-1" {
		t.Fatalf("request ids %q %q, event ids %q %q: not unique gateway ids", a.RequestID, b.RequestID, a.EventID, b.EventID)
	}
	if a.RequestID != rids[0] || b.RequestID != rids[1] {
		t.Fatalf("records %q %q, responses %v", a.RequestID, b.RequestID, rids)
	}
	if a.ClientRequestID != "client-chosen-1" || b.ClientRequestID != "client-chosen-1" {
		t.Fatalf("client request ids %q %q", a.ClientRequestID, b.ClientRequestID)
	}
}
