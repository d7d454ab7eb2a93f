package hubauth

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestRouteRulesLikeEveryModule: hub_auth reads "METHOD PATH" with
// hub.ParseRoute, like hub_rate_limit, hub_audit and hub_cache: methods in
// any case, kept in upper case; GET also matches HEAD; an unknown method
// is refused with the same message.
func TestRouteRulesLikeEveryModule(t *testing.T) {
	var h Handler
	in := "hub_auth {\n public get,head /x\n require get /y read\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if got := h.Rules[0].Methods; !reflect.DeepEqual(got, []string{"GET", "HEAD"}) {
		t.Fatalf("public get,head: Methods = %q", got)
	}
	for _, r := range h.Rules {
		if err := r.compile(); err != nil {
			t.Fatal(err)
		}
	}
	if !h.Rules[1].Match("HEAD", "/y") || h.Rules[1].Match("POST", "/y") {
		t.Fatal("require get /y: HEAD must match, POST must not")
	}
	err := (&Handler{}).UnmarshalCaddyfile(caddyfile.NewTestDispenser("hub_auth {\n public gets /x\n}"))
	if err == nil || !strings.Contains(err.Error(), `invalid method "gets"`) {
		t.Fatalf("public gets /x: err = %v", err)
	}
}
