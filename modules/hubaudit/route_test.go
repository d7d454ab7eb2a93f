package hubaudit

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestRouteRulesLikeEveryModule: hub_audit reads "METHOD PATH" with
// hub.ParseRoute, like hub_auth, hub_rate_limit and hub_cache: methods in
// any case, kept in upper case; GET also matches HEAD (it did not here
// before); an unknown method is refused with the same message.
func TestRouteRulesLikeEveryModule(t *testing.T) {
	var cfg Handler
	in := "hub_audit {\n sensitive get /x\n no_body_hash post,put /y\n}"
	if err := cfg.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sensitive[0].Methods; !reflect.DeepEqual(got, []string{"GET"}) {
		t.Fatalf("sensitive get /x: Methods = %q", got)
	}
	if got := cfg.NoBodyHash[0].Methods; !reflect.DeepEqual(got, []string{"POST", "PUT"}) {
		t.Fatalf("no_body_hash post,put /y: Methods = %q", got)
	}
	h := testHandler(t)
	h.sensitive, h.noHash = cfg.Sensitive, cfg.NoBodyHash
	for _, r := range append(append([]*Route{}, h.sensitive...), h.noHash...) {
		if err := r.Compile(); err != nil {
			t.Fatal(err)
		}
	}
	if !h.sensitiveRoute(httptest.NewRequest("HEAD", "/x", nil)) {
		t.Fatal("sensitive get /x does not cover HEAD /x")
	}
	if h.sensitiveRoute(httptest.NewRequest("POST", "/x", nil)) {
		t.Fatal("sensitive get /x covers POST /x")
	}
	if !h.noBodyHashRoute(httptest.NewRequest("PUT", "/y", nil)) {
		t.Fatal("no_body_hash post,put /y does not cover PUT /y")
	}
	err := (&Handler{}).UnmarshalCaddyfile(caddyfile.NewTestDispenser("hub_audit {\n sensitive gets /x\n}"))
	if err == nil || !strings.Contains(err.Error(), `invalid method "gets"`) {
		t.Fatalf("sensitive gets /x: err = %v", err)
	}
}
