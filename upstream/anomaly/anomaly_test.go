package anomaly

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

type clock = testutil.Clock

type env struct {
	t     *testing.T
	mux   *http.ServeMux
	clock *clock
}

func newEnv(t *testing.T, d *db.DB) *env {
	c := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	mux := http.NewServeMux()
	New(d, testSecret, []byte("cursor-key"), c.Now).Register(mux)
	return &env{t: t, mux: mux, clock: c}
}

var (
	admin    = &assertion.Claims{Subject: "1", Role: "admin", Method: assertion.MethodJWT}
	adminKey = &assertion.Claims{Subject: "1", Role: "admin", Method: assertion.MethodAPIKey, Scopes: []string{"read"}}
	worker   = &assertion.Claims{Subject: "2", Role: "ouvrier", Method: assertion.MethodJWT}
)

func (e *env) do(method, target string, body any, auth string, c *assertion.Claims) (int, map[string]any) {
	e.t.Helper()
	var buf bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&buf).Encode(body)
	}
	r := httptest.NewRequest(method, target, &buf)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if c != nil {
		r = r.WithContext(httpx.WithIdentity(r.Context(), c))
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m
}

func (e *env) ingest(ev map[string]any) int {
	e.t.Helper()
	code, _ := e.do("POST", "/internal/anomalies", ev, "Bearer "+string(testSecret), nil)
	return code
}

func event(id, rule, kind, principal string, at time.Time) map[string]any {
	return map[string]any{"event_id": id, "detected_at": at.Format(time.RFC3339Nano), "rule": rule,
		"principal_kind": kind, "principal_id": principal, "details": map[string]any{"distinct_404_paths": 20}, "gateway_id": "gw-1"}
}

func TestIngest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		now := e.clock.Now()
		ev := event("e-1", "scan", "api_key", "k1", now)
		tests := []struct {
			name string
			auth string
			body map[string]any
			want int
		}{
			{"no secret", "", ev, 401},
			{"wrong secret", "Bearer nope", ev, 401},
			{"new", "Bearer " + string(testSecret), ev, 201},
			{"retry is idempotent", "Bearer " + string(testSecret), ev, 200},
			{"unknown rule", "Bearer " + string(testSecret), event("e-2", "vibes", "api_key", "k1", now), 400},
			{"unknown kind", "Bearer " + string(testSecret), event("e-3", "scan", "robot", "k1", now), 400},
			{"no principal", "Bearer " + string(testSecret), event("e-4", "scan", "ip", "", now), 400},
			{"details not an object", "Bearer " + string(testSecret), func() map[string]any {
				m := event("e-5", "scan", "ip", "1.2.3.4", now)
				m["details"] = []int{1}
				return m
			}(), 400},
		}
		for _, tt := range tests {
			if code, body := e.do("POST", "/internal/anomalies", tt.body, tt.auth, nil); code != tt.want {
				t.Errorf("%s: %d %v, want %d", tt.name, code, body, tt.want)
			}
		}
		_, list := e.do("GET", "/api/v1/admin/anomalies", nil, "", admin)
		if data := list["data"].([]any); len(data) != 1 {
			t.Fatalf("stored %d events, want 1: %v", len(data), list)
		}
	})
}

func TestList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		now := e.clock.Now()
		// 25 scan events by k1, 5 error_rate by an IP, 1 too old to list.
		for i := 0; i < 25; i++ {
			if c := e.ingest(event(fmt.Sprint("s", i), "scan", "api_key", "k1", now.Add(-time.Duration(i)*time.Hour))); c != 201 {
				t.Fatalf("ingest: %d", c)
			}
		}
		for i := 0; i < 5; i++ {
			e.ingest(event(fmt.Sprint("x", i), "error_rate", "ip", "203.0.113.7", now.Add(-time.Duration(i)*time.Minute)))
		}
		e.ingest(event("old", "scan", "api_key", "k1", now.Add(-8*24*time.Hour)))

		// Access.
		if c, _ := e.do("GET", "/api/v1/admin/anomalies", nil, "", worker); c != 403 {
			t.Errorf("non-admin: %d", c)
		}
		if c, _ := e.do("GET", "/api/v1/admin/anomalies", nil, "", adminKey); c != 403 {
			t.Errorf("admin's key without the admin scope: %d", c)
		}
		if c, _ := e.do("GET", "/api/v1/admin/anomalies", nil, "", nil); c != 401 {
			t.Errorf("anonymous: %d", c)
		}

		// Walk every page of k1's scans, newest first, then come back.
		var ids []string
		var cursors []string
		next := ""
		for page := 0; page < 10; page++ {
			q := url.Values{"rule": {"scan"}, "principal_id": {"k1"}, "limit": {"10"}}
			if next != "" {
				q.Set("cursor", next)
			}
			c, body := e.do("GET", "/api/v1/admin/anomalies?"+q.Encode(), nil, "", admin)
			if c != 200 {
				t.Fatalf("page %d: %d %v", page, c, body)
			}
			for _, item := range body["data"].([]any) {
				ids = append(ids, item.(map[string]any)["event_id"].(string))
			}
			pg := body["pagination"].(map[string]any)
			n, _ := pg["next_cursor"].(string)
			if n == "" {
				break
			}
			cursors = append(cursors, n)
			next = n
		}
		if len(ids) != 25 || ids[0] != "s0" || ids[24] != "s24" {
			t.Fatalf("walked %d events %v, want s0..s24 newest first (the 8-day-old one excluded)", len(ids), ids)
		}
		// From page 3, prev goes back to page 2.
		q := url.Values{"rule": {"scan"}, "principal_id": {"k1"}, "limit": {"10"}, "cursor": {cursors[1]}}
		_, body := e.do("GET", "/api/v1/admin/anomalies?"+q.Encode(), nil, "", admin)
		prev := body["pagination"].(map[string]any)["prev_cursor"].(string)
		q.Set("cursor", prev)
		_, body = e.do("GET", "/api/v1/admin/anomalies?"+q.Encode(), nil, "", admin)
		data := body["data"].([]any)
		if len(data) != 10 || data[0].(map[string]any)["event_id"] != "s10" || data[9].(map[string]any)["event_id"] != "s19" {
			t.Fatalf("prev page: %v", data)
		}

		// Filters.
		for _, tt := range []struct {
			query string
			want  int
		}{
			{"principal_kind=ip", 5},
			{"rule=error_rate&principal_id=203.0.113.7", 5},
			{"rule=scan&principal_kind=ip", 0},
			{"limit=100", 30},
		} {
			c, body := e.do("GET", "/api/v1/admin/anomalies?"+tt.query, nil, "", admin)
			if c != 200 || len(body["data"].([]any)) != tt.want {
				t.Errorf("%s: %d, %d items, want %d", tt.query, c, len(body["data"].([]any)), tt.want)
			}
		}
		// Bad queries.
		for _, q := range []string{"rule=vibes", "principal_kind=robot", "limit=0", "since=yesterday", "cursor=forged"} {
			if c, _ := e.do("GET", "/api/v1/admin/anomalies?"+q, nil, "", admin); c != 400 {
				t.Errorf("%s: %d, want 400", q, c)
			}
		}
		// A cursor is bound to its filters.
		q = url.Values{"rule": {"error_rate"}, "cursor": {cursors[0]}}
		if c, body := e.do("GET", "/api/v1/admin/anomalies?"+q.Encode(), nil, "", admin); c != 400 || body["type"] != "urn:hubchantier:problem:invalid-cursor" {
			t.Errorf("cursor of another list: %d %v", c, body)
		}
	})
}

// FuzzValidate: any ingested body is either refused or stored with a JSON
// object as details; validate never panics.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"event_id":"e","detected_at":"2026-01-02T03:04:05Z","rule":"scan","principal_kind":"ip","principal_id":"1.2.3.4","details":{}}`))
	f.Add([]byte(`{"event_id":"e","detected_at":"2026-01-02T03:04:05Z","rule":"spike","principal_kind":"user","principal_id":"7","details":null}`))
	f.Add([]byte(`{"details":[1,2]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var e Event
		if json.Unmarshal(body, &e) != nil {
			return
		}
		if e.validate() != nil {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(e.Details, &obj); err != nil || !Rules[e.Rule] || !Kinds[e.PrincipalKind] {
			t.Fatalf("accepted %s", body)
		}
	})
}
