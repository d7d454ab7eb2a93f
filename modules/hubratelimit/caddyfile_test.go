package hubratelimit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"empty block", `hub_rate_limit`, `{}`},
		{"default with burst", `hub_rate_limit {
			default 1000/hour burst 20/second
		}`, `{"default":["1000/hour","20/second"]}`},
		{"default off", `hub_rate_limit {
			default off
			rule s GET /api/v1/stats 1000/hour
		}`, `{"default":["off"],"rules":[{"name":"s","methods":["GET"],"path":"/api/v1/stats","rates":["1000/hour"]}]}`},
		{"full", `hub_rate_limit {
			default 1000/hour
			rule login POST /api/auth/login 5/minute per ip
			rule chantiers-create POST,PUT /api/v1/chantiers 100/day burst 10/minute 1/second per principal
			rule any * /oauth/* 30/minute burst 5/second per ip
			fail_closed
			warn_interval 30s
			retry_interval 2s
		}`, `{"default":["1000/hour"],"rules":[` +
			`{"name":"login","methods":["POST"],"path":"/api/auth/login","rates":["5/minute"],"per":"ip"},` +
			`{"name":"chantiers-create","methods":["POST","PUT"],"path":"/api/v1/chantiers","rates":["100/day","10/minute","1/second"],"per":"principal"},` +
			`{"name":"any","path":"/oauth/*","rates":["30/minute","5/second"],"per":"ip"}],` +
			`"fail_closed":true,"warn_interval":30000000000,"retry_interval":2000000000}`},
		{"shared endpoints, per user and client quotas", `hub_rate_limit {
			per_user 5000/hour burst 50/second
			per_client 20000/hour
			rule login POST /api/auth/login POST /oauth/login 5/minute per ip
			rule exports GET /api/v1/stats * /api/v1/planning 10/minute per user
		}`, `{"per_user":["5000/hour","50/second"],"per_client":["20000/hour"],"rules":[` +
			`{"name":"login","endpoints":[{"methods":["POST"],"path":"/api/auth/login"},{"methods":["POST"],"path":"/oauth/login"}],"rates":["5/minute"],"per":"ip"},` +
			`{"name":"exports","endpoints":[{"methods":["GET"],"path":"/api/v1/stats"},{"path":"/api/v1/planning"}],"rates":["10/minute"],"per":"user"}]}`},
		// Methods in any case, kept in upper case (hub.Route): the same
		// rule as hub_auth, hub_audit and hub_cache.
		{"lower-case methods", `hub_rate_limit {
			rule r1 get /x 5/minute
			rule r2 post,Put /y get /z 5/minute
		}`, `{"rules":[{"name":"r1","methods":["GET"],"path":"/x","rates":["5/minute"]},` +
			`{"name":"r2","endpoints":[{"methods":["POST","PUT"],"path":"/y"},{"methods":["GET"],"path":"/z"}],"rates":["5/minute"]}]}`},
		{"per_user off", `hub_rate_limit {
			per_user off
		}`, `{}`},
		{"fail_open after fail_closed", `hub_rate_limit {
			fail_closed
			fail_open
		}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			got, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("JSON\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestUnmarshalCaddyfileErrors: bad values are refused at adapt time and
// the message names the offending token.
func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, wantInMsg string
	}{
		{"unknown unit", `rule a GET /x 5/fortnight`, `"fortnight"`},
		{"zero limit", `rule a GET /x 0/minute`, `"0/minute"`},
		{"not a rate", `default lots`, `"lots"`},
		{"bad default unit", `default 10/week`, `"week"`},
		{"default junk after rate", `default 10/hour 5/second`, `"5/second"`},
		{"default off plus", `default off 5/hour`, `"5/hour"`},
		{"bad method", `rule a GETS /x 5/minute`, `"GETS"`},
		{"bad pattern", `rule a GET api/x 5/minute`, `"api/x"`},
		{"bad pattern segment", `rule a GET /a//b 5/minute`, `/a//b`},
		{"bad per", `rule a GET /x 5/minute per team`, `"team"`},
		{"endpoint without rate", `rule a GET /x POST /y`, `rule`},
		{"bad second endpoint", `rule a GET /x POTS /y 5/minute`, `"POTS"`},
		{"reserved per-user", `rule per-user GET /x 5/minute`, `"per-user"`},
		{"per_user junk", `per_user 5/hour 3/minute`, `"3/minute"`},
		{"per_client off plus", `per_client off 5/hour`, `"5/hour"`},
		{"per_user bad rate", `per_user many`, `"many"`},
		{"per without value", `rule a GET /x 5/minute per`, `per`},
		{"burst without rate", `rule a GET /x 5/minute burst`, `burst`},
		{"bad burst", `rule a GET /x 5/minute burst 3/eon`, `"eon"`},
		{"unexpected token", `rule a GET /x 5/minute every`, `"every"`},
		{"too few args", `rule a GET /x`, `rule`},
		{"bad name", `rule Login GET /x 5/minute`, `"Login"`},
		{"reserved name", `rule per-key GET /x 5/minute`, `"per-key"`},
		{"duplicate name", "rule a GET /x 5/minute\nrule a GET /y 5/minute", `"a"`},
		{"same period twice", `rule a GET /x 5/minute burst 2/minute`, `two rates`},
		{"unknown option", `limit 5/minute`, `"limit"`},
		{"bad duration", `warn_interval soon`, `"soon"`},
		{"negative duration", `retry_interval -1s`, `"-1s"`},
		{"fail_open with arg", `fail_open yes`, `yes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			input := "hub_rate_limit {\n" + tt.input + "\n}"
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
			if err == nil {
				t.Fatalf("accepted:\n%s", input)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("error %q does not name %s", err, tt.wantInMsg)
			}
		})
	}
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`hub_rate_limit extra`)); err == nil {
		t.Fatal("argument after the directive accepted")
	}
}
