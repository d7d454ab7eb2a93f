package hubcache

import (
	"strconv"
	"time"

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
//	    route <path> <ttl> [max_ttl <d>] [shared]   # default mode: ttl when the origin says nothing
//	    route <path> <ttl> override [shared]        # ttl for every 200, origin may only shorten it
//	    route <path> origin [shared]                # only the origin's freshness (RFC 9111)
//	    route <path> off                            # first match wins; default: see DefaultRoutes
//	    invalidate <path> <path>...                 # writes under <path> also invalidate these
//	    max_stale <duration>|off                    # default 10m
//	    max_body_size <size>                        # default 1MiB
//	    l1 <entries> <size>                         # default 10000 64MiB
//	    store_timeout <duration>                    # default 500ms
//	    ranges on|off                               # default on: 206 from stored 200s
//	}
//
// <path> is a pattern, the path of a hub.Route: /api/v1/report,
// /api/v1/{resource}/{id}, /api/v1/admin/*. Routes and invalidate rules
// name no method: only GET is cached (HEAD is answered from it), and every
// successful unsafe request invalidates.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "route":
			rt, err := parseRoute(d)
			if err != nil {
				return err
			}
			h.Routes = append(h.Routes, rt)
		case "ranges":
			if !d.NextArg() {
				return d.ArgErr()
			}
			switch d.Val() {
			case "on":
				h.RangesOff = false
			case "off":
				h.RangesOff = true
			default:
				return d.Errf("ranges: want on or off, not %q", d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
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

// parseRoute reads the arguments of one route line.
func parseRoute(d *caddyfile.Dispenser) (*Route, error) {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return nil, d.ArgErr()
	}
	if _, err := hub.ParseRoute("*", args[0]); err != nil {
		return nil, d.Errf("route: %v", err)
	}
	rt := &Route{Path: args[0]}
	switch args[1] {
	case "off":
		rt.Off = true
		if len(args) > 2 {
			return nil, d.Errf("route %s: nothing may follow off", args[0])
		}
		return rt, nil
	case ModeOrigin:
		rt.Mode = ModeOrigin
	default:
		ttl, err := caddy.ParseDuration(args[1])
		if err != nil || ttl <= 0 {
			return nil, d.Errf("route %s: bad ttl %q (a duration, origin or off)", args[0], args[1])
		}
		rt.TTL = caddy.Duration(ttl) // default mode: Mode stays empty
	}
	for i := 2; i < len(args); i++ {
		switch a := args[i]; {
		case a == "shared" && !rt.Shared:
			rt.Shared = true
		case a == ModeOverride && rt.Mode == "" && rt.MaxTTL == 0:
			rt.Mode = ModeOverride
		case a == "max_ttl" && rt.Mode == "" && rt.MaxTTL == 0 && i+1 < len(args):
			v, err := caddy.ParseDuration(args[i+1])
			if err != nil || v < time.Duration(rt.TTL) {
				return nil, d.Errf("route %s: bad max_ttl %q (a duration, at least the ttl)", args[0], args[i+1])
			}
			rt.MaxTTL = caddy.Duration(v)
			i++
		default:
			return nil, d.Errf("route %s: unexpected %q (after a ttl: max_ttl <d>, override, shared; after origin: shared)", args[0], a)
		}
	}
	return rt, nil
}
