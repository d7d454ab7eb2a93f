package hub

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{
			name:  "empty",
			input: `hub`,
			want:  `{}`,
		},
		{
			name:  "empty block",
			input: `hub { }`,
			want:  `{}`,
		},
		{
			name: "full block",
			input: `hub {
				upstream http://10.0.0.5:9000
				secret {env.HUB_GATEWAY_SECRET}
				store redis rediss://u:p@cache:6380/2 {
					cluster
					prefix gw:
				}
				issuer https://auth.example
				audience hub-api-test
				key_cache_ttl 2m
				negative_cache_ttl 10s
				revocation_wait 20s
				jwks_min_refresh 1s
				usage_interval 1m30s
				ipv6_prefix 56
			}`,
			want: `{
				"upstream": "http://10.0.0.5:9000",
				"secret": "{env.HUB_GATEWAY_SECRET}",
				"store": {"backend": "redis", "url": "rediss://u:p@cache:6380/2", "cluster": true, "prefix": "gw:"},
				"issuer": "https://auth.example",
				"audience": "hub-api-test",
				"key_cache_ttl": 120000000000,
				"negative_cache_ttl": 10000000000,
				"revocation_wait": 20000000000,
				"jwks_min_refresh": 1000000000,
				"usage_interval": 90000000000,
				"ipv6_prefix": 56
			}`,
		},
		{
			name:  "store memory",
			input: "hub {\n store memory\n}",
			want:  `{"store": {"backend": "memory"}}`,
		},
		{
			name:  "store memory with a name",
			input: "hub {\n store memory tenant-a\n}",
			want:  `{"store": {"backend": "memory", "name": "tenant-a"}}`,
		},
		{
			name:  "store redis with prefix block",
			input: "hub {\n store redis redis://x:6379/0 {\n prefix p:\n }\n}",
			want:  `{"store": {"backend": "redis", "url": "redis://x:6379/0", "prefix": "p:"}}`,
		},
		{
			name:  "store redis with placeholder URL",
			input: "hub {\n store redis {env.HUB_REDIS_URL}\n}",
			want:  `{"store": {"backend": "redis", "url": "{env.HUB_REDIS_URL}"}}`,
		},
		{
			// An unset {$HUB_REDIS_URL} is substituted before parsing and
			// leaves an empty token.
			name:  "store redis with an empty URL falls back to memory",
			input: "hub {\n store redis \"\"\n}",
			want:  `{"store": {"backend": "memory"}}`,
		},
		{
			name:  "store redis with an empty URL and a block falls back to memory",
			input: "hub {\n store redis \"\" {\n prefix p:\n cluster\n }\n}",
			want:  `{"store": {"backend": "memory"}}`,
		},
		{
			name:  "store redis without URL falls back to memory",
			input: "hub {\n store redis\n}",
			want:  `{"store": {"backend": "memory"}}`,
		},
		{
			name:  "options after a store block",
			input: "hub {\n store redis redis://x:6379/0 {\n cluster\n }\n issuer me\n}",
			want:  `{"store": {"backend": "redis", "url": "redis://x:6379/0", "cluster": true}, "issuer": "me"}`,
		},
		{
			name:  "last store wins",
			input: "hub {\n store redis redis://x:6379/0\n store memory\n}",
			want:  `{"store": {"backend": "memory"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var app App
			if err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			got, err := json.Marshal(&app)
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
		wantErr []string // substrings of the error
	}{
		{"argument on the option line", `hub extra`, []string{"wrong argument count"}},
		{"unknown option", "hub {\n bogus 1\n}", []string{`unknown option "bogus"`, "Testfile:2"}},
		{"upstream without value", "hub {\n upstream\n}", []string{"wrong argument count"}},
		{"secret with two values", "hub {\n secret a b\n}", []string{"wrong argument count"}},
		{"issuer without value", "hub {\n issuer\n}", []string{"wrong argument count"}},
		{"bad duration", "hub {\n key_cache_ttl soon\n}", []string{"key_cache_ttl", `"soon"`}},
		{"zero duration", "hub {\n negative_cache_ttl 0s\n}", []string{"negative_cache_ttl", `"0s"`}},
		{"negative duration", "hub {\n revocation_wait -5s\n}", []string{"revocation_wait", `"-5s"`}},
		{"duration without value", "hub {\n usage_interval\n}", []string{"wrong argument count"}},
		{"ipv6_prefix zero", "hub {\n ipv6_prefix 0\n}", []string{"ipv6_prefix", `"0"`}},
		{"ipv6_prefix too long", "hub {\n ipv6_prefix 129\n}", []string{`"129"`}},
		{"ipv6_prefix not a number", "hub {\n ipv6_prefix /64\n}", []string{`"/64"`}},
		{"ipv6_prefix two values", "hub {\n ipv6_prefix 64 48\n}", []string{"wrong argument count"}},
		{"duration with two values", "hub {\n jwks_min_refresh 1s 2s\n}", []string{"wrong argument count"}},
		{"store without backend", "hub {\n store\n}", []string{"wrong argument count"}},
		{"unknown store backend", "hub {\n store etcd x\n}", []string{`unknown backend "etcd"`}},
		{"store memory with two names", "hub {\n store memory a b\n}", []string{`"b"`}},
		{"store redis with two URLs", "hub {\n store redis redis://a redis://b\n}", []string{"wrong argument count"}},
		{"unknown store redis option", "hub {\n store redis redis://a {\n tls\n }\n}", []string{`unknown option "tls"`}},
		{"store redis prefix without value", "hub {\n store redis redis://a {\n prefix\n }\n}", []string{"wrong argument count"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var app App
			err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
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

func TestParseGlobal(t *testing.T) {
	v, err := parseGlobal(caddyfile.NewTestDispenser("hub {\n issuer me\n store memory\n}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	app, ok := v.(httpcaddyfile.App)
	if !ok {
		t.Fatalf("parseGlobal returned %T, want httpcaddyfile.App", v)
	}
	if app.Name != "hub" {
		t.Fatalf("app name = %q, want hub", app.Name)
	}
	assertJSONEqual(t, app.Value, `{"issuer": "me", "store": {"backend": "memory"}}`)

	if _, err := parseGlobal(caddyfile.NewTestDispenser("hub {\n nope\n}"), nil); err == nil {
		t.Fatal("parseGlobal accepted an unknown option")
	}
}

// assertJSONEqual compares two JSON documents regardless of key order and
// whitespace.
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
