package hubaudit

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input, want string
		wantErr           bool
	}{
		{"bare", `hub_audit`, `{}`, false},
		{"empty journal keeps the default", "hub_audit {\n journal\n}", `{}`, false},
		{"everything", `hub_audit {
			journal /var/lib/hubgate/audit
			max_journal_size 2GiB
			segment_size 8MiB
			on_full drop
			sensitive POST,DELETE /api/v1/*
			sensitive * /api/v1/admin/*
			batch_size 100
			ship_interval 1s
			log_stream on
		}`, `{"journal":"/var/lib/hubgate/audit","max_journal_size":2147483648,"segment_size":8388608,"on_full":"drop","sensitive":[{"methods":["POST","DELETE"],"path":"/api/v1/*"},{"path":"/api/v1/admin/*"}],"batch_size":100,"ship_interval":1000000000,"log_stream":true}`, false},
		{"argument", `hub_audit foo`, ``, true},
		{"bad policy", "hub_audit {\n on_full explode\n}", ``, true},
		{"bad size", "hub_audit {\n max_journal_size lots\n}", ``, true},
		{"bad stream", "hub_audit {\n log_stream maybe\n}", ``, true},
		{"bad sensitive", "hub_audit {\n sensitive POST\n}", ``, true},
		{"no_body_hash", "hub_audit {\n no_body_hash POST /api/v1/secrets\n no_body_hash * /oauth/*\n}",
			`{"no_body_hash":[{"methods":["POST"],"path":"/api/v1/secrets"},{"path":"/oauth/*"}]}`, false},
		{"bad no_body_hash", "hub_audit {\n no_body_hash /oauth/*\n}", ``, true},
		{"unknown", "hub_audit {\n colour blue\n}", ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr {
				return
			}
			got, _ := json.Marshal(h)
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
