package hubcache

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "empty", in: "hub_cache", want: `{}`},
		{name: "full", in: `hub_cache {
			route /api/v1/admin/* off
			route /api/v1/stats 60s
			route /api/v1/ref 1h shared
			invalidate /api/v1/* /api/v1/stats /api/v1/planning
			max_stale 10m
			max_body_size 2MiB
			l1 500 8MB
			store_timeout 200ms
		}`, want: `{"routes":[{"path":"/api/v1/admin/*","off":true},{"path":"/api/v1/stats","ttl":60000000000},{"path":"/api/v1/ref","ttl":3600000000000,"shared":true}],` +
			`"related":[{"path":"/api/v1/*","invalidate":["/api/v1/stats","/api/v1/planning"]}],"max_stale":600000000000,"max_body_size":2097152,"l1_entries":500,"l1_bytes":8000000,"store_timeout":200000000}`},
		{name: "max_stale off", in: "hub_cache {\n max_stale off\n}", want: `{"max_stale":-1}`},
		{name: "l1 off", in: "hub_cache {\n l1 0 1MB\n}", want: `{"l1_entries":-1,"l1_bytes":1000000}`},
		{name: "argument", in: "hub_cache x", err: "wrong argument count"},
		{name: "bad ttl", in: "hub_cache {\n route /a soon\n}", err: `bad ttl "soon"`},
		{name: "bad pattern", in: "hub_cache {\n route a 1m\n}", err: "route"},
		{name: "off shared", in: "hub_cache {\n route /a off shared\n}", err: `nothing may follow off`},
		{name: "relative invalidate", in: "hub_cache {\n invalidate /a b\n}", err: `path "b" must start with /`},
		{name: "bad size", in: "hub_cache {\n max_body_size lots\n}", err: `bad size "lots"`},
		{name: "bad l1", in: "hub_cache {\n l1 -1 1MB\n}", err: `bad entry count "-1"`},
		{name: "unknown", in: "hub_cache {\n ttl 5m\n}", err: `unknown option "ttl"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(h)
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestValidate rejects configurations that cannot work.
func TestValidate(t *testing.T) {
	bad := []*Handler{
		{Routes: []*Route{{Path: "/a"}}},
		{Routes: []*Route{{Path: "/a", TTL: 24 * 3600e9}}},
		{Related: []*Related{{Path: "/a"}}},
	}
	for i, h := range bad {
		if err := h.setDefaults(); err != nil {
			continue
		}
		if err := h.Validate(); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

// TestValidateModes checks the route modes of JSON configs: the
// combinations without meaning fail at load.
func TestValidateModes(t *testing.T) {
	min5 := caddy.Duration(5 * time.Minute)
	for _, tt := range []struct {
		name string
		rt   Route
		err  string
	}{
		{"default, empty mode", Route{Path: "/a", TTL: min5}, ""},
		{"default, explicit", Route{Path: "/a", Mode: ModeDefault, TTL: min5, MaxTTL: 2 * min5}, ""},
		{"override", Route{Path: "/a", Mode: ModeOverride, TTL: min5}, ""},
		{"origin", Route{Path: "/a", Mode: ModeOrigin}, ""},
		{"origin with ttl", Route{Path: "/a", Mode: ModeOrigin, TTL: min5}, "origin mode takes no ttl"},
		{"override with max_ttl", Route{Path: "/a", Mode: ModeOverride, TTL: min5, MaxTTL: 2 * min5}, "max_ttl is for the default mode"},
		{"max_ttl below ttl", Route{Path: "/a", TTL: min5, MaxTTL: min5 / 2}, "below the ttl"},
		{"unknown mode", Route{Path: "/a", Mode: "sometimes", TTL: min5}, `unknown mode "sometimes"`},
		{"default without ttl", Route{Path: "/a"}, "ttl must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			h := &Handler{Routes: []*Route{&rt}}
			if err := h.setDefaults(); err != nil {
				t.Fatal(err)
			}
			err := h.Validate()
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate = %v, want %q", err, tt.err)
			}
		})
	}
}
