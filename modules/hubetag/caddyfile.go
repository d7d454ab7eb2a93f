package hubetag

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_etag", parseCaddyfile)
	// Inside encode (so the tag is computed on identity bytes and encode
	// derives "-gzip" variants), outside hub_fields and hub_version (so the
	// tag covers the bytes after field selection and renaming). See
	// docs/ARCHITECTURE.md, request path.
	httpcaddyfile.RegisterDirectiveOrder("hub_etag", httpcaddyfile.After, "push")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_etag {
//	    max_size      <size>          # default 1MiB; larger bodies get no computed tag
//	    cache_control <value> | off   # default "private, no-cache"
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
				return d.Errf("hub_etag: max_size %q is not a positive size (e.g. 1MiB)", d.Val())
			}
			h.MaxSize = int64(n)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "cache_control":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.CacheControl = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("hub_etag: unknown option %q", d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
