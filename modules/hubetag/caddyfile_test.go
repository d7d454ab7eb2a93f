package hubetag

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		in      string
		want    Handler
		wantErr string
	}{
		{in: `hub_etag`, want: Handler{}},
		{in: "hub_etag {\n max_size 512KiB\n cache_control \"private, max-age=0\"\n}", want: Handler{MaxSize: 512 << 10, CacheControl: "private, max-age=0"}},
		{in: "hub_etag {\n cache_control off\n}", want: Handler{CacheControl: "off"}},
		{in: "hub_etag {\n max_size lots\n}", wantErr: `max_size "lots"`},
		{in: "hub_etag {\n max_size 0\n}", wantErr: `max_size "0"`},
		{in: "hub_etag {\n max_size 1MiB 2MiB\n}", wantErr: "wrong argument count"},
		{in: "hub_etag {\n max_size\n}", wantErr: "wrong argument count"},
		{in: "hub_etag {\n weak yes\n}", wantErr: `unknown option "weak"`},
		{in: "hub_etag arg", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || h.MaxSize != tt.want.MaxSize || h.CacheControl != tt.want.CacheControl {
			t.Errorf("%q: %+v, %v; want %+v", tt.in, h, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (&Handler{MaxSize: -1}).Validate(); err == nil {
		t.Error("negative max_size accepted")
	}
	if err := (&Handler{}).Validate(); err != nil {
		t.Error(err)
	}
}
