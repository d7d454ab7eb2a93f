package hubbody

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_request_body", parseCaddyfile)
	// Inside hub_auth, hub_rate_limit and hub_anomaly (after forward_auth),
	// so that no body is read for a request already refused; outside
	// hub_etag, hub_fields, hub_version, hub_cache and the proxy, which then
	// all read the body from memory. See docs/ARCHITECTURE.md.
	httpcaddyfile.RegisterDirectiveOrder("hub_request_body", httpcaddyfile.Before, "request_header")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_request_body {
//	    max_size     <size>       # default 1MiB; larger bodies get 413
//	    read_timeout <duration>   # default 30s; slower bodies get 408
//	}
//
// <size> is a byte count with an optional unit (512KiB, 2MB).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > 1<<40 {
				return d.Errf("hub_request_body: max_size %q is not a positive size (e.g. 1MiB)", d.Val())
			}
			h.MaxSize = int64(n)
		case "read_timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 || v > 24*time.Hour {
				return d.Errf("hub_request_body: read_timeout %q is not a positive duration (e.g. 30s)", d.Val())
			}
			h.ReadTimeout = caddy.Duration(v)
		default:
			return d.Errf("hub_request_body: unknown subdirective %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
