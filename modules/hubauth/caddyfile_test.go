package hubauth

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/hubchantier/hubgate/modules/hub"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"empty", `hub_auth`, `{}`},
		{"empty block", `hub_auth { }`, `{}`},
		{
			name: "full block",
			input: `hub_auth {
				public POST /api/auth/login
				public get,head /.well-known/*
				public * /oauth/*
				require GET /api/v1/reports reports:read read
				require put,patch /api/v1/chantiers/{id} chantiers:write
				authenticated * /api/auth/*
				authenticated DELETE /api/auth/keys/{id}
				resource_prefix /api/v2/
				realm "Hub Chantier"
			}`,
			want: `{
				"rules": [
					{"methods": ["POST"], "path": "/api/auth/login", "public": true},
					{"methods": ["GET", "HEAD"], "path": "/.well-known/*", "public": true},
					{"path": "/oauth/*", "public": true},
					{"methods": ["GET"], "path": "/api/v1/reports", "scopes": ["reports:read", "read"]},
					{"methods": ["PUT", "PATCH"], "path": "/api/v1/chantiers/{id}", "scopes": ["chantiers:write"]},
					{"path": "/api/auth/*"},
					{"methods": ["DELETE"], "path": "/api/auth/keys/{id}"}
				],
				"resource_prefixes": ["/api/v2/"],
				"realm": "Hub Chantier"
			}`,
		},
		{"resource_prefix off", "hub_auth {\n resource_prefix off\n}", `{"resource_prefixes": ["off"]}`},
		{"failed_auth", "hub_auth {\n failed_auth 20/minute 100/hour\n}", `{"failed_auth": ["20/minute", "100/hour"]}`},
		{"failed_auth off", "hub_auth {\n failed_auth off\n}", `{"failed_auth": ["off"]}`},
		{"root pattern", "hub_auth {\n public GET /\n}", `{"rules": [{"methods": ["GET"], "path": "/", "public": true}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			got, err := json.Marshal(&h)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, got, tt.want)
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr []string
	}{
		{"argument on the directive line", `hub_auth extra`, []string{"wrong argument count"}},
		{"unknown option", "hub_auth {\n allow GET /x\n}", []string{`unknown option "allow"`, "Testfile:2"}},
		{"public without path", "hub_auth {\n public GET\n}", []string{"wrong argument count"}},
		{"public with a scope", "hub_auth {\n public GET /x read\n}", []string{"wrong argument count"}},
		{"public without arguments", "hub_auth {\n public\n}", []string{"wrong argument count"}},
		{"require without scope", "hub_auth {\n require GET /x\n}", []string{"wrong argument count"}},
		{"authenticated with a scope", "hub_auth {\n authenticated GET /x read\n}", []string{"wrong argument count"}},
		{"authenticated without path", "hub_auth {\n authenticated *\n}", []string{"wrong argument count"}},
		{"bad method", "hub_auth {\n public G3T /x\n}", []string{"public", `invalid method "G3T"`}},
		{"empty method in list", "hub_auth {\n require GET,,POST /x read\n}", []string{"require", "invalid method"}},
		{"relative pattern", "hub_auth {\n public GET x/y\n}", []string{"public", `"x/y"`, "must start with /"}},
		{"bad pattern segment", "hub_auth {\n authenticated GET /a/{}/b\n}", []string{"authenticated", `bad segment "{}"`}},
		{"star inside pattern", "hub_auth {\n public GET /a/*/b\n}", []string{"public", "bad segment"}},
		{"bad scope", "hub_auth {\n require GET /x READ\n}", []string{"require", `invalid scope "READ"`}},
		{"bad second scope", "hub_auth {\n require GET /x read a;b\n}", []string{"require", `invalid scope "a;b"`}},
		{"resource_prefix without value", "hub_auth {\n resource_prefix\n}", []string{"wrong argument count"}},
		{"relative resource_prefix", "hub_auth {\n resource_prefix api/v1/\n}", []string{`resource_prefix "api/v1/" must start with / (or be a lone off)`}},
		{"failed_auth without value", "hub_auth {\n failed_auth\n}", []string{"wrong argument count"}},
		{"failed_auth bad rate", "hub_auth {\n failed_auth 20/fortnight\n}", []string{"failed_auth", `"fortnight"`}},
		{"failed_auth off plus", "hub_auth {\n failed_auth off 5/minute\n}", []string{`"5/minute"`}},
		{"failed_auth same unit", "hub_auth {\n failed_auth 5/minute 9/minute\n}", []string{`"9/minute"`, "two rates"}},
		{"realm without value", "hub_auth {\n realm\n}", []string{"wrong argument count"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil {
				t.Fatalf("UnmarshalCaddyfile succeeded, want an error containing %q", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestParseCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser("hub_auth {\n public GET /healthz\n realm r\n}")
	mh, err := parseCaddyfile(httpcaddyfile.Helper{Dispenser: d})
	if err != nil {
		t.Fatal(err)
	}
	h, ok := mh.(*Handler)
	if !ok {
		t.Fatalf("parseCaddyfile returned %T, want *Handler", mh)
	}
	if h.Realm != "r" || len(h.Rules) != 1 || !h.Rules[0].Public {
		t.Fatalf("parsed handler = %+v", h)
	}
	// Patterns are compiled again in Provision from the JSON config; the
	// parsed rule carries no compiled state.
	if want := (hub.Route{Methods: []string{"GET"}, Path: "/healthz"}); !reflect.DeepEqual(h.Rules[0].Route, want) {
		t.Fatalf("parsed rule kept compiled state: %#v", h.Rules[0].Route)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		rules   []*Rule
		wantErr bool
	}{
		{"no rules", nil, false},
		{"public", []*Rule{{Route: hub.Route{Path: "/x"}, Public: true}}, false},
		{"require", []*Rule{{Route: hub.Route{Path: "/x"}, Scopes: []string{"read"}}}, false},
		{"public with scopes", []*Rule{{Route: hub.Route{Path: "/ok"}}, {Route: hub.Route{Path: "/x"}, Public: true, Scopes: []string{"read"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Handler{Rules: tt.rules}).Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}
