package hubcors

import (
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_cors", parseCaddyfile)
	// Inside hub_metrics (before header), outside hub_audit (before
	// basic_auth) and everything after it: preflights are answered before
	// hub_auth and hub_rate_limit, and every answer below, the gateway's
	// own problems included, gets the security headers. See docs/cors.md.
	httpcaddyfile.RegisterDirectiveOrder("hub_cors", httpcaddyfile.After, "header")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_cors {
//	    origins         [<origin...>]        # scheme://host[:port]; none (default): no CORS at all
//	    credentials     [on|off]             # Access-Control-Allow-Credentials for the listed origins; default off
//	    methods         <method...>          # a preflight may ask for; default GET HEAD POST PUT PATCH DELETE
//	    headers         <header...>          # a preflight may ask for; default in docs/cors.md
//	    expose          <header...>          # readable by scripts; default in docs/cors.md
//	    max_age         <duration>           # preflight cache; default 10m
//	    referrer_policy <policy>|off         # default no-referrer
//	    hsts            <value...>|off       # over TLS only; default max-age=31536000; includeSubDomains
//	}
//
// origins may be given with no value (an empty {$HUB_CORS_ORIGINS}), and
// more than once.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		args := d.RemainingArgs()
		switch sub {
		case "origins":
			h.Origins = append(h.Origins, args...)
		case "credentials":
			switch {
			case len(args) == 0 || len(args) == 1 && args[0] == "on":
				h.Credentials = true
			case len(args) == 1 && args[0] == "off":
				h.Credentials = false
			default:
				return d.Errf("hub_cors: credentials takes nothing, on or off")
			}
		case "methods", "headers", "expose":
			if len(args) == 0 {
				return d.ArgErr()
			}
			var list []string
			for _, a := range args {
				for _, v := range strings.Split(a, ",") {
					if v = strings.TrimSpace(v); v != "" {
						list = append(list, v)
					}
				}
			}
			switch sub {
			case "methods":
				h.Methods = append(h.Methods, list...)
			case "headers":
				h.Headers = append(h.Headers, list...)
			default:
				h.Expose = append(h.Expose, list...)
			}
		case "max_age":
			if len(args) != 1 {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(args[0])
			if err != nil || v <= 0 || v > 24*time.Hour {
				return d.Errf("hub_cors: max_age %q is not a positive duration (at most 24h)", args[0])
			}
			h.MaxAge = caddy.Duration(v)
		case "referrer_policy":
			if len(args) != 1 {
				return d.ArgErr()
			}
			h.ReferrerPolicy = args[0]
		case "hsts":
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.HSTS = strings.Join(args, " ")
		default:
			return d.Errf("hub_cors: unknown subdirective %q", sub)
		}
	}
	for _, o := range h.Origins {
		if err := checkOrigin(o); err != nil {
			return d.Errf("hub_cors: origin %q: %v", o, err)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
