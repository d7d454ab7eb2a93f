package hubcache

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_cache", parseCaddyfile)
	// Innermost policy: it stores what the upstream answered, and every
	// transformation (version, fields, ETag) runs on top (docs/ARCHITECTURE.md, request path).
	httpcaddyfile.RegisterDirectiveOrder("hub_cache", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_cache {
//	    route <path> <ttl>|off [shared]     # first match wins; default: see DefaultRoutes
//	    invalidate <path> <path>...          # writes under <path> also invalidate these
//	    max_stale <duration>|off             # default 10m
//	    max_body_size <size>                 # default 1MiB
//	    l1 <entries> <size>                  # default 10000 64MiB
//	    store_timeout <duration>             # default 500ms
//	}
//
// <path> is a pattern, the path of a hub.Route: /api/v1/report,
// /api/v1/{resource}/{id}, /api/v1/admin/*. Routes and invalidate rules
// name no method: only GET is cached (HEAD is answered from it), and every
// successful write invalidates.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "route":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return d.ArgErr()
			}
			if _, err := hub.ParseRoute("*", args[0]); err != nil {
				return d.Errf("route: %v", err)
			}
			rt := &Route{Path: args[0]}
			if args[1] == "off" {
				rt.Off = true
			} else {
				ttl, err := caddy.ParseDuration(args[1])
				if err != nil || ttl <= 0 {
					return d.Errf("route %s: bad ttl %q", args[0], args[1])
				}
				rt.TTL = caddy.Duration(ttl)
			}
			if len(args) == 3 {
				if args[2] != "shared" || rt.Off {
					return d.Errf("route %s: unexpected %q (only shared may follow a ttl)", args[0], args[2])
				}
				rt.Shared = true
			}
			h.Routes = append(h.Routes, rt)
		case "invalidate":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.ArgErr()
			}
			if _, err := hub.ParseRoute("*", args[0]); err != nil {
				return d.Errf("invalidate: %v", err)
			}
			for _, p := range args[1:] {
				if len(p) == 0 || p[0] != '/' {
					return d.Errf("invalidate %s: path %q must start with /", args[0], p)
				}
			}
			h.Related = append(h.Related, &Related{Path: args[0], Invalidate: args[1:]})
		case "max_stale":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() == "off" {
				h.MaxStale = -1
				break
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v < 0 {
				return d.Errf("max_stale: bad duration %q", d.Val())
			}
			if v == 0 {
				v = -1
			}
			h.MaxStale = caddy.Duration(v)
		case "store_timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 {
				return d.Errf("store_timeout: bad duration %q", d.Val())
			}
			h.StoreTimeout = caddy.Duration(v)
		case "max_body_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := parseSize(d.Val())
			if err != nil {
				return d.Errf("max_body_size: bad size %q", d.Val())
			}
			h.MaxBodySize = n
		case "l1":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return d.Errf("l1: bad entry count %q", args[0])
			}
			b, err := parseSize(args[1])
			if err != nil {
				return d.Errf("l1: bad size %q", args[1])
			}
			if n == 0 {
				n = -1 // explicit zero: no L1 (with Redis only)
			}
			h.L1Entries, h.L1Bytes = n, b
		default:
			return d.Errf("hub_cache: unknown option %q", opt)
		}
	}
	return nil
}

// parseSize reads 1048576, 1MiB, 64MB.
func parseSize(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<40 {
		return 0, strconv.ErrSyntax
	}
	return int64(n), nil
}
