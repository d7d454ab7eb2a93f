package hubversion

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/jsonx"
	"github.com/hubchantier/hubgate/modules/hub"
)

func newHandler(t testing.TB) *Handler {
	t.Helper()
	h := &Handler{
		Renames:         map[string]string{"nom": "name", "adresse": "location", "statut": "status", "date_debut": "startDate"},
		Deprecated:      "2026-01-01",
		Sunset:          "2027-06-30",
		DeprecationLink: "https://docs.example/v2",
		log:             zap.NewNop(),
	}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

// seen is what the fake upstream received.
type seen struct {
	path, query, body string
}

func fakeUpstream(status int, ctype, body string, hdr map[string]string, got *seen) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got.path, got.query = r.URL.Path, r.URL.RawQuery
		if r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			got.body = string(b)
		}
		w.Header().Set("Content-Type", ctype)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		if body == "" {
			return nil
		}
		_, err := io.WriteString(w, body)
		return err
	})
}

func TestV2(t *testing.T) {
	const obj = `{"id":1,"nom":"A","adresse":"x","date_fin":null,"responsable":{"user_id":3}}`
	tests := []struct {
		name, method, target, reqBody string
		status                        int
		ctype, body                   string
		hdr                           map[string]string
		fields                        string // hub_fields plan (raw)
		want                          string
		wantCode                      int
		wantSeen                      seen
		wantHdr                       map[string]string
	}{
		{name: "GET renames", method: "GET", target: "/api/v2/chantiers/1", status: 200, ctype: "application/json", body: obj,
			want: `{"id":1,"name":"A","location":"x","dateFin":null,"responsable":{"userId":3}}`, wantCode: 200,
			wantSeen: seen{path: "/api/v1/chantiers/1"}},
		{name: "query renamed, cursor kept", method: "GET", target: "/api/v2/chantiers?status=en_cours&managerId=3&sort=-startDate,name&cursor=a%2Bb", status: 200,
			ctype: "application/json", body: `{"data":[],"pagination":{"next_cursor":null}}`,
			want: `{"data":[],"pagination":{"nextCursor":null}}`, wantCode: 200,
			wantSeen: seen{path: "/api/v1/chantiers", query: "statut=en_cours&manager_id=3&sort=-date_debut%2Cnom&cursor=a%2Bb"}},
		{name: "selection claimed", method: "GET", target: "/api/v2/chantiers", fields: "name,location", status: 200, ctype: "application/json",
			body: `{"data":[{"id":1,"nom":"A","adresse":"x","statut":"s"}],"pagination":{"total_pages":1}}`,
			want: `{"data":[{"name":"A","location":"x"}],"pagination":{"totalPages":1}}`, wantCode: 200, wantSeen: seen{path: "/api/v1/chantiers"}},
		{name: "POST body and Location", method: "POST", target: "/api/v2/chantiers", reqBody: `{"name":"A","startDate":"2025-01-01","extraField":1}`,
			status: 201, ctype: "application/json", body: obj, hdr: map[string]string{"Location": "/api/v1/chantiers/1", "ETag": `"v1"`},
			want: `{"id":1,"name":"A","location":"x","dateFin":null,"responsable":{"userId":3}}`, wantCode: 201,
			wantSeen: seen{path: "/api/v1/chantiers", body: `{"nom":"A","date_debut":"2025-01-01","extra_field":1}`},
			wantHdr:  map[string]string{"Location": "/api/v2/chantiers/1", "ETag": ""}},
		{name: "problem fields", method: "POST", target: "/api/v2/chantiers", reqBody: `{}`, status: 400, ctype: "application/problem+json",
			body:     `{"type":"t","title":"x","status":400,"instance":"/api/v1/chantiers","errors":[{"field":"date_debut","message":"m"},{"field":"nom","message":"m"}],"required_scopes":["a"]}`,
			want:     `{"errors":[{"field":"startDate","message":"m"},{"field":"name","message":"m"}],"instance":"/api/v2/chantiers","requiredScopes":["a"],"status":400,"title":"x","type":"t"}`,
			wantCode: 400, wantSeen: seen{path: "/api/v1/chantiers", body: `{}`}},
		{name: "non-JSON untouched", method: "GET", target: "/api/v2/x", status: 200, ctype: "text/plain", body: "nom_x",
			want: "nom_x", wantCode: 200, wantSeen: seen{path: "/api/v1/x"}},
		{name: "204", method: "DELETE", target: "/api/v2/chantiers/1", status: 204, ctype: "", body: "",
			want: "", wantCode: 204, wantSeen: seen{path: "/api/v1/chantiers/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			var rd io.Reader
			if tt.reqBody != "" {
				rd = strings.NewReader(tt.reqBody)
			}
			req := caddyhttp.PrepareRequest(httptest.NewRequest(tt.method, tt.target, rd), caddy.NewReplacer(), nil, nil)
			if rd != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.fields != "" {
				wl, _ := jsonx.Whitelist([]string{"id", "nom", "adresse", "statut"})
				hub.SetFieldsPlan(req, &jsonx.Plan{Raw: tt.fields, Entity: "chantiers", Envelope: true, Allowed: wl, MaxFields: 50, MaxLevels: 5})
			}
			var got seen
			rec := httptest.NewRecorder()
			if err := h.ServeHTTP(rec, req, fakeUpstream(tt.status, tt.ctype, tt.body, tt.hdr, &got)); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.wantCode || rec.Body.String() != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", rec.Code, rec.Body, tt.wantCode, tt.want)
			}
			if got != tt.wantSeen {
				t.Fatalf("upstream saw %+v\nwant %+v", got, tt.wantSeen)
			}
			for k, v := range tt.wantHdr {
				if rec.Header().Get(k) != v {
					t.Fatalf("%s = %q, want %q", k, rec.Header().Get(k), v)
				}
			}
			if rec.Header().Get("Deprecation") != "" {
				t.Fatal("v2 answer marked deprecated")
			}
		})
	}
}

func TestV2Refusals(t *testing.T) {
	tests := []struct {
		name, target, body, fields string
		maxReq                     int
		code                       int
		contains                   string
	}{
		{"bad JSON body", "/api/v2/chantiers", `{"name":`, "", 0, 400, "urn:hubchantier:problem:validation"},
		{"body too large", "/api/v2/chantiers", `{"name":"` + strings.Repeat("x", 100) + `"}`, "", 50, 413, "body-too-large"},
		{"bad v2 field", "/api/v2/chantiers", "", "name,nom_x,secretThing", 0, 400, `"invalidFields":["nomX","secretThing"]`},
		{"allowed list in v2", "/api/v2/chantiers", "", "secret", 0, 400, `"allowedFields":["id","location","name","status"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t)
			if tt.maxReq > 0 {
				h.MaxRequestBody = tt.maxReq
			}
			method, rd := "GET", io.Reader(nil)
			if tt.body != "" {
				method, rd = "POST", strings.NewReader(tt.body)
			}
			req := caddyhttp.PrepareRequest(httptest.NewRequest(method, tt.target, rd), caddy.NewReplacer(), nil, nil)
			req.Header.Set("Content-Type", "application/json")
			if tt.fields != "" {
				wl, _ := jsonx.Whitelist([]string{"id", "nom", "adresse", "statut"})
				hub.SetFieldsPlan(req, &jsonx.Plan{Raw: tt.fields, Entity: "chantiers", Envelope: true, Allowed: wl, MaxFields: 50, MaxLevels: 5})
			}
			called := false
			rec := httptest.NewRecorder()
			err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil }))
			if err != nil || called || rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Fatalf("err %v, called %v: %d %s", err, called, rec.Code, rec.Body)
			}
		})
	}
}

func TestV2TooLargeAnswer(t *testing.T) {
	h := newHandler(t)
	h.MaxBody = 16
	req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/api/v2/chantiers", nil), caddy.NewReplacer(), nil, nil)
	rec := httptest.NewRecorder()
	var got seen
	if err := h.ServeHTTP(rec, req, fakeUpstream(200, "application/json", `{"nom":"`+strings.Repeat("x", 64)+`"}`, nil, &got)); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 502 || strings.Contains(rec.Body.String(), "nom") {
		t.Fatalf("oversize v2 answer: %d %s", rec.Code, rec.Body)
	}
}

func TestV1Headers(t *testing.T) {
	h := newHandler(t)
	const body = `{"nom":"A" , "x_y":1}`
	req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/api/v1/chantiers/3?fields=x", nil), caddy.NewReplacer(), nil, nil)
	rec := httptest.NewRecorder()
	var got seen
	if err := h.ServeHTTP(rec, req, fakeUpstream(200, "application/json", body, nil, &got)); err != nil {
		t.Fatal(err)
	}
	if rec.Body.String() != body {
		t.Fatalf("v1 body changed: %s", rec.Body)
	}
	want := map[string]string{
		"Deprecation": "@1767225600",
		"Sunset":      "Wed, 30 Jun 2027 00:00:00 GMT",
	}
	for k, v := range want {
		if rec.Header().Get(k) != v {
			t.Errorf("%s = %q, want %q", k, rec.Header().Get(k), v)
		}
	}
	links := strings.Join(rec.Header().Values("Link"), ", ")
	if links != `</api/v2/chantiers/3>; rel="successor-version", <https://docs.example/v2>; rel="deprecation"; type="text/html"` {
		t.Errorf("Link %q", links)
	}
}

func TestOpenAPIDerivation(t *testing.T) {
	h := newHandler(t)
	v1 := `{"openapi":"3.1.0","info":{"title":"Hub","version":"1.0.0"},"paths":{"/api/v1/chantiers":{"get":{"parameters":[{"name":"statut","in":"query"},{"name":"X-Id","in":"header"}]}}},
		"components":{"schemas":{"Chantier":{"type":"object","properties":{"nom":{"type":"string"},"date_fin":{"type":"string"}},"required":["nom"]}}}}`
	req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/api/v2/openapi.json?x=1", nil), caddy.NewReplacer(), nil, nil)
	rec := httptest.NewRecorder()
	var got seen
	if err := h.ServeHTTP(rec, req, fakeUpstream(200, "application/json", v1, nil, &got)); err != nil {
		t.Fatal(err)
	}
	if got.path != "/api/openapi.json" || got.query != "" {
		t.Fatalf("fetched %+v", got)
	}
	var doc struct {
		Info       map[string]string
		Paths      map[string]map[string]map[string][]map[string]string
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any
				Required   []string
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	ch := doc.Components.Schemas["Chantier"]
	params := doc.Paths["/api/v2/chantiers"]["get"]["parameters"]
	if doc.Info["version"] != "2.0.0" || ch.Properties["name"] == nil || ch.Properties["dateFin"] == nil || ch.Required[0] != "name" ||
		len(params) != 2 || params[0]["name"] != "status" || params[1]["name"] != "X-Id" {
		t.Fatalf("derived %s", rec.Body)
	}
}

func TestCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`hub_version {
		mapping configs/v2-mapping.json
		rename nom name
		v1_prefix /api/v1/
		v2_prefix /api/v2/
		deprecated 2026-01-01
		sunset 2027-06-30T00:00:00Z
		deprecation_link https://x/dep
		sunset_link https://x/sun
		openapi_source /api/openapi.json
		max_body 2MiB
		max_request_body 64KiB
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Mapping != "configs/v2-mapping.json" || h.Renames["nom"] != "name" || h.Sunset != "2027-06-30T00:00:00Z" ||
		h.MaxBody != 2<<20 || h.MaxRequestBody != 64<<10 || h.SunsetLink != "https://x/sun" {
		t.Fatalf("parsed %+v", h)
	}
	for _, bad := range []string{
		"hub_version {\n deprecated soon\n}",
		"hub_version {\n v2_prefix /api/v2\n}",
		"hub_version {\n rename a\n}",
		"hub_version {\n max_body big\n}",
		"hub_version {\n mapping a b\n}",
		"hub_version {\n nope\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRepositoryMappingLoads(t *testing.T) {
	h := &Handler{Mapping: "../../configs/v2-mapping.json", log: zap.NewNop()}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if h.mapping.V2("adresse") != "location" || h.mapping.V1("startDate") != "date_debut" {
		t.Fatal("mapping not applied")
	}
}
