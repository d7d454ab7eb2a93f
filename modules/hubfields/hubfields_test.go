package hubfields

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

const (
	object = `{"id":1,"nom":"A","statut":"en_cours","secret":"x","responsable":{"nom":"Jo","email":"j@x"}}`
	list   = `{"data":[{"id":1,"nom":"A","secret":"x"},{"id":2,"nom":"B","secret":"y"}],"pagination":{"page":1}}`
)

func newHandler(t testing.TB) *Handler {
	t.Helper()
	h := &Handler{Entities: map[string][]string{"chantiers": {"id", "nom", "statut", "responsable.nom"}}, log: zap.NewNop()}
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	return h
}

// upstream answers body with the given status and headers, and records the
// query it saw.
func upstream(status int, body string, hdr map[string]string, sawQuery *string) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		*sawQuery = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, err := w.Write([]byte(body))
		return err
	})
}

func TestServeHTTP(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		status    int
		body      string
		hdr       map[string]string
		maxBody   int
		want      string
		wantCode  int
		wantQuery string
		rewritten bool
	}{
		{"object", "/api/v1/chantiers/1?fields=id,nom", 200, object, nil, 0, `{"id":1,"nom":"A"}`, 200, "", true},
		{"nested and narrowed", "/api/v1/chantiers/1?fields=responsable", 200, object, nil, 0, `{"responsable":{"nom":"Jo"}}`, 200, "", true},
		{"star", "/api/v1/chantiers/1?fields=*", 200, object, nil, 0, `{"id":1,"nom":"A","statut":"en_cours","responsable":{"nom":"Jo"}}`, 200, "", true},
		{"envelope", "/api/v1/chantiers?limit=2&fields=nom&page=1", 200, list, nil, 0, `{"data":[{"nom":"A"},{"nom":"B"}],"pagination":{"page":1}}`, 200, "limit=2&page=1", true},
		{"no fields untouched", "/api/v1/chantiers/1?x=1", 200, object, nil, 0, object, 200, "x=1", false},
		{"non-200 untouched", "/api/v1/chantiers/1?fields=id", 404, `{"title":"nope"}`, nil, 0, `{"title":"nope"}`, 404, "", false},
		{"201 untouched", "/api/v1/chantiers?fields=id", 201, object, nil, 0, object, 201, "", false},
		{"non-JSON untouched", "/api/v1/chantiers/1?fields=id", 200, "id,nom", map[string]string{"Content-Type": "text/csv"}, 0, "id,nom", 200, "", false},
		{"no-transform untouched", "/api/v1/chantiers/1?fields=id", 200, object, map[string]string{"Cache-Control": "no-transform"}, 0, object, 200, "", false},
		{"over limit untouched", "/api/v1/chantiers/1?fields=id", 200, object, nil, 10, object, 200, "", false},
		{"invalid JSON untouched", "/api/v1/chantiers/1?fields=id", 200, `{"id":`, nil, 0, `{"id":`, 200, "", false},
		{"other paths ignored", "/healthz?fields=id", 200, object, nil, 0, object, 200, "fields=id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			if tt.maxBody > 0 {
				h.MaxBody = tt.maxBody
			}
			var saw string
			req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", tt.target, nil), caddy.NewReplacer(), nil, nil)
			rec := httptest.NewRecorder()
			if err := h.ServeHTTP(rec, req, upstream(tt.status, tt.body, tt.hdr, &saw)); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.wantCode || rec.Body.String() != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", rec.Code, rec.Body, tt.wantCode, tt.want)
			}
			if saw != tt.wantQuery {
				t.Fatalf("upstream saw query %q, want %q", saw, tt.wantQuery)
			}
			etag := hub.UpstreamETag(req)
			if tt.rewritten != (rec.Header().Get("ETag") == "") || tt.rewritten != (etag == `"v1"`) {
				t.Fatalf("ETag contract: header %q, var %q", rec.Header().Get("ETag"), etag)
			}
			if tt.rewritten && rec.Header().Get("Content-Length") != strconv.Itoa(len(tt.want)) {
				t.Fatalf("Content-Length %q", rec.Header().Get("Content-Length"))
			}
		})
	}
}

// TestVocabulary: with the hub app's route vocabulary, a known resource
// without a whitelist refuses ?fields= (fields-not-supported, an empty
// list), an unknown path goes to the upstream (its 404), and nested,
// grouped and namespaced paths name their own entity.
func TestVocabulary(t *testing.T) {
	rt, err := hub.LoadRoutes(testutil.HubRoutesFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Provision(); err != nil {
		t.Fatal(err)
	}
	h := &Handler{Entities: map[string][]string{"chantiers": {"id"}, "api-keys": {"id", "status"}}, routes: rt, log: zap.NewNop()}
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"/api/v1/users?fields=id":                    "fields-not-supported",
		"/api/v1/stats?fields=id":                    "fields-not-supported",
		"/api/v1/chantiers/1/affectations?fields=id": "fields-not-supported",
		"/api/v1/nope?fields=id":                     "upstream",
		"/api/v1/nope/2?fields=id":                   "upstream",
		"/api/auth/api-keys?fields=id":               "upstream",
		"/api/v1/admin/api-keys?fields=id,status":    "upstream",
		"/api/auth/api-keys?fields=key_hash":         "invalid-fields",
		"/api/v1/chantiers?fields=secret":            "invalid-fields",
	} {
		called := false
		req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", target, nil), caddy.NewReplacer(), nil, nil)
		rec := httptest.NewRecorder()
		if err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil })); err != nil {
			t.Fatal(err)
		}
		got := "upstream"
		if !called {
			got = strings.TrimPrefix(strings.Split(strings.SplitAfter(rec.Body.String(), `"type":"`)[1], `"`)[0], "urn:hubchantier:problem:")
		}
		if got != want {
			t.Errorf("%s: %s, want %s (%s)", target, got, want, rec.Body)
		}
		if want == "fields-not-supported" && !strings.Contains(rec.Body.String(), `"allowed_fields":[]`) {
			t.Errorf("%s: allowed_fields not an empty list: %s", target, rec.Body)
		}
	}
}

func TestRejections(t *testing.T) {
	for _, target := range []string{
		"/api/v1/chantiers?fields=id,secret",
		"/api/v1/chantiers?fields=responsable.email",
		"/api/v1/chantiers?fields=id;drop",
		"/api/v1/chantiers?fields=",
		"/api/v1/chantiers?fields=a.b.c.d.e.f",
		"/api/v1/chantiers?fields=" + strings.Repeat("id,", 51) + "id",
	} {
		t.Run(target, func(t *testing.T) {
			h := newHandler(t)
			called := false
			req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", target, nil), caddy.NewReplacer(), nil, nil)
			rec := httptest.NewRecorder()
			err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil }))
			if err != nil || called || rec.Code != 400 {
				t.Fatalf("err %v, upstream called %v, status %d", err, called, rec.Code)
			}
			if !strings.Contains(rec.Body.String(), "urn:hubchantier:problem:invalid-fields") || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("body %s", rec.Body)
			}
			if strings.Contains(target, "chantiers") && !strings.Contains(rec.Body.String(), `"allowed_fields":["id","nom","responsable.nom","statut"]`) {
				t.Fatalf("allowed list missing: %s", rec.Body)
			}
		})
	}
}

func TestDeferredPublishesPlan(t *testing.T) {
	h := newHandler(t)
	req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/api/v2/chantiers?fields=name&limit=1", nil), caddy.NewReplacer(), nil, nil)
	var saw string
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, req, upstream(200, object, nil, &saw)); err != nil {
		t.Fatal(err)
	}
	plan := hub.FieldsPlanOf(req)
	if plan == nil || plan.Raw != "name" || plan.Entity != "chantiers" || !plan.Envelope || plan.Selected != nil {
		t.Fatalf("plan %+v", plan)
	}
	if rec.Body.String() != object || saw != "limit=1" {
		t.Fatalf("deferred request was touched: %s, query %q", rec.Body, saw)
	}
}

func TestCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`hub_fields {
		entity chantiers id nom responsable.nom
		entity chantiers statut
		object stats
		max_fields 10
		max_levels 3
		max_body 1MiB
		defer_prefix /api/v3/
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.Entities["chantiers"], " ") != "id nom responsable.nom statut" || h.MaxFields != 10 || h.MaxLevels != 3 ||
		h.MaxBody != 1<<20 || h.DeferPrefixes[0] != "/api/v3/" || h.Objects[0] != "stats" {
		t.Fatalf("parsed %+v", h)
	}
	for _, bad := range []string{
		"hub_fields {\n entity users id password_hash\n}",
		"hub_fields {\n entity chantiers\n}",
		"hub_fields {\n entity a/b id\n}",
		"hub_fields {\n max_fields x\n}",
		"hub_fields {\n max_body lots\n}",
		"hub_fields {\n defer_prefix api\n}",
		"hub_fields {\n nope\n}",
		`hub_fields arg`,
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
