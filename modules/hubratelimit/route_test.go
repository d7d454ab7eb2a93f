package hubratelimit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestRouteRulesLikeEveryModule: hub_rate_limit reads "METHOD PATH" with
// hub.ParseRoute, like hub_auth, hub_audit and hub_cache: methods in any
// case, kept in upper case; GET also matches HEAD; an unknown method is
// refused with the same message.
func TestRouteRulesLikeEveryModule(t *testing.T) {
	var h Handler
	in := "hub_rate_limit {\n rule r1 get /x 5/minute\n rule r2 get,head /y post /z 5/minute\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if got := h.Rules[0].Methods; !reflect.DeepEqual(got, []string{"GET"}) {
		t.Fatalf("rule r1 get /x: Methods = %q", got)
	}
	if got := h.Rules[1].Endpoints[0].Methods; !reflect.DeepEqual(got, []string{"GET", "HEAD"}) {
		t.Fatalf("rule r2 get,head /y: Methods = %q", got)
	}
	for _, r := range h.Rules {
		if err := r.compile(); err != nil {
			t.Fatal(err)
		}
	}
	if !h.Rules[0].matches("HEAD", "/x") || h.Rules[0].matches("POST", "/x") {
		t.Fatal("rule r1 get /x: HEAD must match, POST must not")
	}
	if !h.Rules[1].matches("POST", "/z") || h.Rules[1].matches("HEAD", "/z") {
		t.Fatal("rule r2 ... post /z: POST must match, HEAD must not")
	}
	err := (&Handler{}).UnmarshalCaddyfile(caddyfile.NewTestDispenser("hub_rate_limit {\n rule r gets /x 5/minute\n}"))
	if err == nil || !strings.Contains(err.Error(), `invalid method "gets"`) {
		t.Fatalf("rule r gets /x: err = %v", err)
	}
}
