package hub

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestDefaultRoutesKnowNoResource: without a vocabulary every API path is
// <prefix>/<version>/other and nothing outside the API is kept, so labels
// stay bounded and name nothing of any upstream.
func TestDefaultRoutesKnowNoResource(t *testing.T) {
	var nilRoutes *Routes
	for in, want := range map[string]string{
		"/api/v1/widgets":    "/api/v1/other",
		"/api/v1/widgets/42": "/api/v1/other",
		"/api/v3":            "/api/v3",
		"/api/auth/login":    "/api/other",
		"/healthz":           "other",
		"/":                  "other",
	} {
		for _, rt := range []*Routes{nilRoutes, DefaultRoutes(), new(Routes)} {
			if got := rt.Template(in); got != want {
				t.Errorf("%v.Template(%q) = %q, want %q", rt, in, got, want)
			}
		}
	}
}

// TestRoutesGeneric: another upstream's vocabulary, with its own prefix,
// namespace and exact paths, gives its own templates.
func TestRoutesGeneric(t *testing.T) {
	rt := &Routes{
		Prefix:     "/shop/api/",
		Namespaces: []string{"session"},
		Paths:      []*RoutePath{{Path: "/ping", Action: "ping"}},
		Resources:  []*RouteName{{Name: "orders"}, {Name: "people", Singular: "person"}},
		Words:      []*RouteName{{Name: "refund"}, {Name: "token"}},
		MaxDepth:   2,
	}
	if err := rt.Provision(); err != nil {
		t.Fatal(err)
	}
	checkTemplates(t, rt, map[string]string{
		"/shop/api/v2/orders/7/refund": "/shop/api/v2/orders/{id}/…",
		"/shop/api/v2/orders/7":        "/shop/api/v2/orders/{id}",
		"/shop/api/v1/people/x":        "/shop/api/v1/people/{id}",
		"/shop/api/v1/refund":          "/shop/api/v1/other",
		"/shop/api/session/token":      "/shop/api/session/token",
		"/shop/api/session/abc":        "/shop/api/session/{id}",
		"/shop/api/session/a/b/c":      "/shop/api/session/{id}/{id}/…",
		"/api/v1/orders":               "other",
		"/ping":                        "/ping",
	})
	if n := rt.Name("people"); n == nil || n.Singular != "person" {
		t.Fatalf("Name(people) = %+v", n)
	}
	if p := rt.Path("/ping"); p == nil || p.Action != "ping" {
		t.Fatalf("Path(/ping) = %+v", p)
	}
}

func TestRoutesProvisionRefuses(t *testing.T) {
	for _, rt := range []*Routes{
		{Prefix: "api"},
		{MaxDepth: -1},
		{Namespaces: []string{"a/b"}},
		{Resources: []*RouteName{{Name: "{id}"}}},
		{Resources: []*RouteName{{Name: "x"}}, Words: []*RouteName{{Name: "x"}}},
		{Words: []*RouteName{{Name: "other"}}},
		{Paths: []*RoutePath{{Path: "healthz"}}},
	} {
		if err := rt.Provision(); err == nil {
			t.Errorf("%+v: provisioned", rt)
		}
	}
}

func TestUnmarshalCaddyfileRoutes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`hub {
			routes configs/hub-routes.json
		}`, `{"routes_file":"configs/hub-routes.json"}`},
		{`hub {
			routes {
				prefix /v
				namespace auth oauth
				path /healthz health_check
				path /oauth/token oauth_token oauth_token
				resource orders people {
					single
					type thing
				}
				resource admin {
					group
				}
				word keys {
					delete revoke
					singular key
				}
				word login {
					action login
				}
				max_depth 3
			}
		}`, `{"routes":{"prefix":"/v","namespaces":["auth","oauth"],"paths":[{"path":"/healthz","action":"health_check"},{"path":"/oauth/token","action":"oauth_token","type":"oauth_token"}],` +
			`"resources":[{"name":"orders","single":true,"type":"thing"},{"name":"people","single":true,"type":"thing"},{"name":"admin","group":true}],` +
			`"words":[{"name":"keys","singular":"key","delete":"revoke"},{"name":"login","action":"login"}],"max_depth":3}}`},
	} {
		a := new(App)
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in)); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got, _ := json.Marshal(a)
		if string(got) != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
	for _, bad := range []string{
		"hub {\n routes a b\n}",
		"hub {\n routes {\n nope\n }\n}",
		"hub {\n routes {\n path\n }\n}",
		"hub {\n routes {\n resource\n }\n}",
		"hub {\n routes {\n word x {\n single extra\n }\n }\n}",
		"hub {\n routes {\n max_depth 0\n }\n}",
	} {
		if err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// TestAppLoadsRoutesFile: routes_file is read at provisioning, and is
// exclusive with an inline vocabulary.
func TestAppLoadsRoutesFile(t *testing.T) {
	a := &App{RoutesFile: "../../configs/hub-routes.json"}
	if err := a.provisionRoutes(); err != nil {
		t.Fatal(err)
	}
	if got := a.Routes.Template("/api/v1/chantiers/9"); got != "/api/v1/chantiers/{id}" {
		t.Fatalf("Template = %q", got)
	}
	a = &App{RoutesFile: "../../configs/hub-routes.json", Routes: new(Routes)}
	if err := a.provisionRoutes(); err == nil {
		t.Fatal("routes and routes_file together accepted")
	}
	if err := (&App{RoutesFile: "nope.json"}).provisionRoutes(); err == nil {
		t.Fatal("missing file accepted")
	}
	a = new(App)
	if err := a.provisionRoutes(); err != nil || a.Routes.Template("/api/v1/x") != "/api/v1/other" {
		t.Fatal(fmt.Sprint("default vocabulary: ", err))
	}
}
