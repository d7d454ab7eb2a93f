package hubbreaker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Breaker
		wantErr string
	}{
		{"every option", `hub {
			name upstream
			consecutive_failures 5
			failure_ratio 0.5
			min_requests 20
			window 30s
			open_timeout 10s
			half_open_requests 1
			probe_timeout 5s
			failure_latency 2s
		}`, Breaker{Name: "upstream", ConsecutiveFailures: 5, FailureRatio: 0.5, MinRequests: 20,
			Window: caddy.Duration(30 * time.Second), OpenTimeout: caddy.Duration(10 * time.Second),
			HalfOpenRequests: 1, ProbeTimeout: caddy.Duration(5 * time.Second), FailureLatency: caddy.Duration(2 * time.Second)}, ""},
		{"empty block", `hub`, Breaker{}, ""},
		{"unknown option", "hub {\ntripwire 3\n}", Breaker{}, `unknown option "tripwire"`},
		{"ratio above 1", "hub {\nfailure_ratio 1.5\n}", Breaker{}, `failure_ratio "1.5"`},
		{"ratio not a number", "hub {\nfailure_ratio half\n}", Breaker{}, `failure_ratio "half"`},
		{"zero failures", "hub {\nconsecutive_failures 0\n}", Breaker{}, `consecutive_failures "0"`},
		{"bad duration", "hub {\nopen_timeout soon\n}", Breaker{}, `open_timeout "soon"`},
		{"missing value", "hub {\nwindow\n}", Breaker{}, "wrong argument count"},
		{"two values", "hub {\nwindow 1s 2s\n}", Breaker{}, "wrong argument count"},
		{"argument on the module line", `hub extra`, Breaker{}, "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Breaker
			err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b != tt.want {
				t.Fatalf("got %+v, want %+v", b, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Breaker)
		wantErr string
	}{
		{"defaults", func(*Breaker) {}, ""},
		{"name with a space", func(b *Breaker) { b.Name = "up stream" }, "name"},
		{"name too long", func(b *Breaker) { b.Name = strings.Repeat("a", 65) }, "name"},
		{"tiny window", func(b *Breaker) { b.Window = caddy.Duration(time.Millisecond) }, "window"},
		{"ratio", func(b *Breaker) { b.FailureRatio = 2 }, "failure_ratio"},
		{"negative latency", func(b *Breaker) { b.FailureLatency = -1 }, "failure_latency"},
		{"too many probes", func(b *Breaker) { b.HalfOpenRequests = 5000 }, "half_open_requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Breaker
			tt.mod(&b)
			b.setDefaults()
			err := b.Validate()
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// adapt runs the Caddyfile adapter on a site block.
func adapt(t *testing.T, site string) (map[string]any, error) {
	t.Helper()
	out, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte("{\n\tadmin off\n}\n:8080 {\n"+site+"\n}\n"), nil)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, nil
}

// findHandler returns the first handler object named name anywhere in cfg.
func findHandler(v any, name string) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		if x["handler"] == name {
			return x
		}
		for _, c := range x {
			if h := findHandler(c, name); h != nil {
				return h
			}
		}
	case []any:
		for _, c := range x {
			if h := findHandler(c, name); h != nil {
				return h
			}
		}
	}
	return nil
}

func TestHubReverseProxyDirective(t *testing.T) {
	tests := []struct {
		name    string
		site    string
		check   func(t *testing.T, rp map[string]any)
		wantErr string
	}{
		{"breaker and reverse_proxy options", `
	hub_reverse_proxy 127.0.0.1:9000 {
		header_up Accept-Encoding identity
		circuit_breaker hub {
			name api
			open_timeout 3s
		}
		fail_duration 10s
		max_fails 5
	}`, func(t *testing.T, rp map[string]any) {
			cb, _ := rp["circuit_breaker"].(map[string]any)
			if cb["type"] != "hub" || cb["name"] != "api" || cb["open_timeout"] != float64(3e9) {
				t.Fatalf("circuit_breaker %v", rp["circuit_breaker"])
			}
			hc, _ := rp["health_checks"].(map[string]any)
			if p, _ := hc["passive"].(map[string]any); p["max_fails"] != float64(5) {
				t.Fatalf("options after circuit_breaker lost: %v", rp)
			}
			if rp["headers"] == nil {
				t.Fatalf("options before circuit_breaker lost: %v", rp)
			}
		}, ""},
		{"no block", `hub_reverse_proxy 127.0.0.1:9000`, func(t *testing.T, rp map[string]any) {
			if rp["circuit_breaker"] != nil || rp["upstreams"] == nil {
				t.Fatalf("%v", rp)
			}
		}, ""},
		{"nested blocks survive", `
	hub_reverse_proxy 127.0.0.1:9000 {
		transport http {
			dial_timeout 2s
		}
		circuit_breaker hub
		@err status 500
		handle_response @err {
			respond "bad" 502
		}
	}`, func(t *testing.T, rp map[string]any) {
			if rp["transport"] == nil || rp["handle_response"] == nil || rp["circuit_breaker"] == nil {
				t.Fatalf("%v", rp)
			}
		}, ""},
		{"twice", `hub_reverse_proxy 127.0.0.1:9000 {
		circuit_breaker hub
		circuit_breaker hub
	}`, nil, "given twice"},
		{"no module", `hub_reverse_proxy 127.0.0.1:9000 {
		circuit_breaker
	}`, nil, "wrong argument count"},
		{"unknown module", `hub_reverse_proxy 127.0.0.1:9000 {
		circuit_breaker nope
	}`, nil, "http.reverse_proxy.circuit_breakers.nope"},
		{"reverse_proxy's own errors", `hub_reverse_proxy 127.0.0.1:9000 {
		bogus 1
	}`, nil, "unrecognized subdirective bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := adapt(t, tt.site)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rp := findHandler(cfg, "reverse_proxy")
			if rp == nil {
				t.Fatalf("no reverse_proxy handler in %v", cfg)
			}
			tt.check(t, rp)
		})
	}
}

func TestBreakerErrorDirective(t *testing.T) {
	tests := []struct {
		site, want, wantErr string
	}{
		{"handle_errors {\n\thub_breaker_error api\n\trespond 500\n}", "api", ""},
		{"handle_errors {\n\thub_breaker_error\n\trespond 500\n}", "", ""},
		{"handle_errors {\n\thub_breaker_error a b\n}", "", "wrong argument count"},
		{"handle_errors {\n\thub_breaker_error \"a b\"\n}", "", "bad breaker name"},
		{"handle_errors {\n\thub_breaker_error api {\n\t\tretry_after 30s\n\t\tall_errors\n\t}\n}", "api", ""},
		{"handle_errors {\n\thub_breaker_error {\n\t\tretry_after soon\n\t}\n}", "", `"soon"`},
		{"handle_errors {\n\thub_breaker_error {\n\t\tall_errors yes\n\t}\n}", "", "wrong argument count"},
		{"handle_errors {\n\thub_breaker_error {\n\t\tevery 5s\n\t}\n}", "", `"every"`},
	}
	for _, tt := range tests {
		cfg, err := adapt(t, tt.site)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%q: error %v, want %q", tt.site, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		h := findHandler(cfg, "hub_breaker_error")
		if h == nil {
			t.Fatalf("%q: no handler in %v", tt.site, cfg)
		}
		if got, _ := h["breaker"].(string); got != tt.want {
			t.Fatalf("%q: breaker %q, want %q", tt.site, got, tt.want)
		}
		if strings.Contains(tt.site, "retry_after 30s") && (h["retry_after"] != float64(30e9) || h["all_errors"] != true) {
			t.Fatalf("%q: options not adapted: %v", tt.site, h)
		}
	}
}
