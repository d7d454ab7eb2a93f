package hubauth

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/modules/hub"
)

func TestRuleCompile(t *testing.T) {
	tests := []struct {
		name        string
		rule        Rule
		wantMethods []string
		wantErr     string
	}{
		{"methods upper-cased", Rule{Route: hub.Route{Path: "/x", Methods: []string{"get", "Post"}}}, []string{"GET", "POST"}, ""},
		{"star method", Rule{Route: hub.Route{Path: "/x", Methods: []string{"*"}}}, []string{"*"}, ""},
		{"no methods", Rule{Route: hub.Route{Path: "/x"}}, nil, ""},
		{"scopes", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{"read", "chantiers:*", "a.b-c_d:e"}}, nil, ""},
		{"bad path", Rule{Route: hub.Route{Path: "x"}}, nil, "must start with /"},
		{"empty method", Rule{Route: hub.Route{Path: "/x", Methods: []string{""}}}, nil, "invalid method"},
		{"method with digit", Rule{Route: hub.Route{Path: "/x", Methods: []string{"G3T"}}}, nil, `invalid method "G3T"`},
		{"method with dash", Rule{Route: hub.Route{Path: "/x", Methods: []string{"M-SEARCH"}}}, nil, "invalid method"},
		{"upper-case scope", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{"Read"}}, nil, `invalid scope "Read"`},
		{"empty scope", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{""}}, nil, "invalid scope"},
		{"scope with space", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{"a b"}}, nil, "invalid scope"},
		{"scope with quote", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{`a"b`}}, nil, "invalid scope"},
		{"scope of 65 characters", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{strings.Repeat("a", 65)}}, nil, "invalid scope"},
		{"scope of 64 characters", Rule{Route: hub.Route{Path: "/x"}, Scopes: []string{strings.Repeat("a", 64)}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rule
			err := r.compile()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("compile error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if !reflect.DeepEqual(r.Methods, tt.wantMethods) {
				t.Fatalf("Methods = %q, want %q", r.Methods, tt.wantMethods)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		name    string
		methods []string
		method  string
		want    bool
	}{
		{"any method", nil, http.MethodDelete, true},
		{"star", []string{"*"}, http.MethodPatch, true},
		{"same method", []string{"POST"}, http.MethodPost, true},
		{"lower-case config", []string{"post"}, http.MethodPost, true},
		{"other method", []string{"POST"}, http.MethodGet, false},
		{"GET covers HEAD", []string{"GET"}, http.MethodHead, true},
		{"HEAD does not cover GET", []string{"HEAD"}, http.MethodGet, false},
		{"list", []string{"GET", "DELETE"}, http.MethodDelete, true},
		{"list miss", []string{"GET", "DELETE"}, http.MethodPut, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Rule{Route: hub.Route{Path: "/api/v1/chantiers/{id}", Methods: tt.methods}}
			if err := r.compile(); err != nil {
				t.Fatal(err)
			}
			if got := r.Match(tt.method, "/api/v1/chantiers/1"); got != tt.want {
				t.Fatalf("Match(%s) = %v, want %v", tt.method, got, tt.want)
			}
			if r.Match(tt.method, "/api/v1/other/1") {
				t.Fatal("matched another path")
			}
		})
	}
}

func TestHandlerMatchFirstWins(t *testing.T) {
	rules := []*Rule{
		{Route: hub.Route{Path: "/api/v1/chantiers/{id}", Methods: []string{"GET"}}, Public: true},
		{Route: hub.Route{Path: "/api/v1/*"}, Scopes: []string{"admin"}},
		{Route: hub.Route{Path: "/*"}},
	}
	for _, r := range rules {
		if err := r.compile(); err != nil {
			t.Fatal(err)
		}
	}
	h := &Handler{Rules: rules}
	tests := []struct {
		method, path string
		want         int // index in rules, -1 for none
	}{
		{"GET", "/api/v1/chantiers/1", 0},
		{"HEAD", "/api/v1/chantiers/1", 0},
		{"PUT", "/api/v1/chantiers/1", 1},
		{"GET", "/api/v1/chantiers", 1},
		{"GET", "/other", 2},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://x"+tt.path, nil)
		got := h.match(r)
		if got != rules[tt.want] {
			t.Errorf("%s %s matched %+v, want rule %d", tt.method, tt.path, got, tt.want)
		}
	}
	r, _ := http.NewRequest("GET", "http://x/api/v1/chantiers/1", nil)
	if got := (&Handler{}).match(r); got != nil {
		t.Errorf("no rules matched %+v", got)
	}
}

func TestDerivedScopes(t *testing.T) {
	read := func(res string) []string { return []string{"read", res + ":read", res + ":*"} }
	write := func(res string) []string { return []string{"write", res + ":write", res + ":*"} }
	tests := []struct {
		name   string
		prefix string
		method string
		path   string
		want   []string
		ok     bool
	}{
		{"GET collection", "/api/v1/", "GET", "/api/v1/chantiers", read("chantiers"), true},
		{"GET item", "/api/v1/", "GET", "/api/v1/chantiers/42", read("chantiers"), true},
		{"GET nested", "/api/v1/", "GET", "/api/v1/chantiers/42/taches", read("chantiers"), true},
		{"HEAD reads", "/api/v1/", "HEAD", "/api/v1/taches", read("taches"), true},
		{"OPTIONS reads", "/api/v1/", "OPTIONS", "/api/v1/taches", read("taches"), true},
		{"POST writes", "/api/v1/", "POST", "/api/v1/chantiers", write("chantiers"), true},
		{"PUT writes", "/api/v1/", "PUT", "/api/v1/chantiers/1", write("chantiers"), true},
		{"PATCH writes", "/api/v1/", "PATCH", "/api/v1/chantiers/1", write("chantiers"), true},
		{"DELETE writes", "/api/v1/", "DELETE", "/api/v1/chantiers/1", write("chantiers"), true},
		{"admin GET", "/api/v1/", "GET", "/api/v1/admin/users", []string{"admin"}, true},
		{"admin POST", "/api/v1/", "POST", "/api/v1/admin/users", []string{"admin"}, true},
		{"admin root", "/api/v1/", "GET", "/api/v1/admin", []string{"admin"}, true},
		{"prefix itself", "/api/v1/", "GET", "/api/v1/", nil, false},
		{"prefix without slash", "/api/v1/", "GET", "/api/v1", nil, false},
		{"outside prefix", "/api/v1/", "GET", "/api/auth/keys", nil, false},
		{"other version", "/api/v1/", "GET", "/api/v2/chantiers", nil, false},
		{"disabled", "", "GET", "/api/v1/chantiers", nil, false},
		{"custom prefix", "/v2/", "POST", "/v2/devis/9", write("devis"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := derivedScopes(tt.prefix, tt.method, tt.path)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("derivedScopes(%q, %s, %q) = %q, %v; want %q, %v", tt.prefix, tt.method, tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestGrantsAny(t *testing.T) {
	readChantiers := []string{"read", "chantiers:read", "chantiers:*"}
	writeChantiers := []string{"write", "chantiers:write", "chantiers:*"}
	tests := []struct {
		name string
		have []string
		need []string
		want bool
	}{
		{"global read", []string{"read"}, readChantiers, true},
		{"resource read", []string{"chantiers:read"}, readChantiers, true},
		{"resource wildcard reads", []string{"chantiers:*"}, readChantiers, true},
		{"resource wildcard writes", []string{"chantiers:*"}, writeChantiers, true},
		{"wildcard against explicit needs only", []string{"chantiers:*"}, []string{"chantiers:write"}, true},
		{"read does not write", []string{"read", "chantiers:read"}, writeChantiers, false},
		{"write does not read", []string{"write"}, readChantiers, false},
		{"other resource wildcard", []string{"taches:*"}, readChantiers, false},
		{"wildcard prefix of another resource", []string{"chan:*"}, []string{"chantiers:read"}, false},
		{"wildcard does not grant bare resource", []string{"chantiers:*"}, []string{"chantiers"}, false},
		{"wildcard does not grant admin", []string{"admin:*"}, []string{"admin"}, false},
		{"bare star is not a wildcard", []string{"*"}, readChantiers, false},
		{"colon star grants nothing", []string{":*"}, readChantiers, false},
		{"one of several", []string{"x", "y", "chantiers:read"}, readChantiers, true},
		{"no scopes", nil, readChantiers, false},
		{"nothing needed", []string{"read"}, nil, false},
		{"admin", []string{"admin"}, []string{"admin"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := grantsAny(tt.have, tt.need); got != tt.want {
				t.Fatalf("grantsAny(%q, %q) = %v, want %v", tt.have, tt.need, got, tt.want)
			}
		})
	}
}
