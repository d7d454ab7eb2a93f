package hubgraphql

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

// hub_graphql has no default order: it must run right after hub_auth and
// before hub_rate_limit, two plugin directives that both sit between the
// standard basic_auth and forward_auth, where no standard anchor falls
// between them. A Caddyfile orders it with the global option
//
//	order hub_graphql after hub_auth
//
// (or places it in a route block).
func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_graphql", parseCaddyfile)
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_graphql [<matcher>] {
//	    schema           <path>       # the SDL the upstream serves (required)
//	    max_depth        <n>          # default 5
//	    max_cost         <n>          # complexity budget, default 1000
//	    max_fields       <n>          # selections written in the document, default 250
//	    max_query_length <size>       # default 32KiB
//	    max_body         <size>       # default 1MiB (413 beyond)
//	    read_timeout     <duration>   # default 30s (408 beyond)
//	    upstream_path    <path>       # forward to this path (e.g. /api/graphql)
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		v := d.Val()
		switch name {
		case "schema":
			h.Schema = v
		case "upstream_path":
			h.UpstreamPath = v
		case "max_depth":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("hub_graphql: max_depth %q is not a positive integer", v)
			}
			h.MaxDepth = n
		case "max_fields":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("hub_graphql: max_fields %q is not a positive integer", v)
			}
			h.MaxFields = n
		case "max_cost":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return d.Errf("hub_graphql: max_cost %q is not a positive integer", v)
			}
			h.MaxCost = n
		case "max_query_length", "max_body":
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("hub_graphql: %s %q is not a positive size (e.g. 32KiB)", name, v)
			}
			if name == "max_body" {
				h.MaxBody = int64(n)
			} else {
				h.MaxQueryLength = int(n)
			}
		case "read_timeout":
			t, err := caddy.ParseDuration(v)
			if err != nil || t <= 0 || t > 24*time.Hour {
				return d.Errf("hub_graphql: read_timeout %q is not a positive duration (e.g. 30s)", v)
			}
			h.ReadTimeout = caddy.Duration(t)
		default:
			return d.Errf("hub_graphql: unknown subdirective %q", name)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
