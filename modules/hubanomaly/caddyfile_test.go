package hubanomaly

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		want        string // JSON of the handler
		wantErr     string // substring of the error
	}{
		{"defaults", `hub_anomaly`, `{}`, ""},
		{"every option", `hub_anomaly {
			error_rate 0.6 window 30m min 100 block 5m 403
			spike 4 floor 30 warmup 1h half_life 20m
			scan 25 window 5m block 10m
			user_agents off
			cooldown 5m
			max_principals 5000
			block_cache 2s
			gateway_id gw-1
			queue_size 64
			webhook https://hooks.example/anomaly {
				secret {env.SECRET}
				timeout 3s
				retries 2
			}
		}`, `{"error_rate":{"ratio":0.6,"window":1800000000000,"min_requests":100,"block":300000000000,"block_status":403},` +
			`"spike":{"factor":4,"floor":30,"warmup":3600000000000,"half_life":1200000000000},` +
			`"scan":{"distinct":25,"window":300000000000,"block":600000000000},"user_agents":{"off":true},` +
			`"cooldown":300000000000,"max_principals":5000,"block_cache":2000000000,"gateway_id":"gw-1",` +
			`"webhook":{"url":"https://hooks.example/anomaly","secret":"{env.SECRET}","timeout":3000000000,"retries":2},"queue_size":64}`, ""},
		{"webhook without URL is off", "hub_anomaly {\n webhook {\n secret x\n }\n}", `{}`, ""},
		{"bad ratio", `hub_anomaly { error_rate 1.5 }`, "", `error_rate "1.5"`},
		{"bad factor", `hub_anomaly { spike 0.5 }`, "", `spike "0.5"`},
		{"bad distinct", `hub_anomaly { scan 1 }`, "", `scan  "1"`},
		{"too many distinct", `hub_anomaly { user_agents 5000 }`, "", `user_agents  "5000"`},
		{"bad window", `hub_anomaly { scan 20 window soon }`, "", `scan window "soon"`},
		{"unknown rule option", `hub_anomaly { scan 20 depth 3 }`, "", `unknown option "depth"`},
		{"option without value", "hub_anomaly {\n scan 20 window\n}", "", `"window" needs a value`},
		{"bad block", `hub_anomaly { scan 20 block forever }`, "", `scan block "forever"`},
		{"off with extra", `hub_anomaly { spike off 5 }`, "", `spike off takes no other argument`},
		{"unknown option", `hub_anomaly { paranoid }`, "", `unknown option "paranoid"`},
		{"webhook without secret", "hub_anomaly {\n webhook https://h.example/x\n}", "", `a secret is required`},
		{"directive argument", `hub_anomaly on`, "", `wrong argument count`},
		{"bad max_principals", `hub_anomaly { max_principals 3 }`, "", `max_principals  "3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
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

func TestCompileRefusesBadJSON(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string
	}{
		{"ratio", Handler{ErrorRate: &ErrorRateRule{Ratio: 2}}, "error_rate ratio"},
		{"block status", Handler{Scan: &DistinctRule{Action: Action{BlockStatus: 500}}}, "block scan status 500"},
		{"distinct", Handler{UserAgents: &DistinctRule{Distinct: 1}}, "user_agents 1"},
		{"half life", Handler{Spike: &SpikeRule{HalfLife: 1}}, "half_life"},
	}
	for _, tt := range tests {
		h := tt.h
		if err := h.compile(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}
