package hubauth

import (
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_auth", parseCaddyfile)
	// First of the hub policies: nothing that costs resources runs before
	// the caller is known (docs/ARCHITECTURE.md, request path).
	httpcaddyfile.RegisterDirectiveOrder("hub_auth", httpcaddyfile.After, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_auth {
//	    public  <methods|*> <path>                 # no credentials needed
//	    require <methods|*> <path> <scope> [...]   # one of these scopes
//	    authenticated <methods|*> <path>           # any valid credential
//	    resource_prefix <prefix>... | off          # default /api/v1/ /api/v2/
//	    realm <realm>
//	    failed_auth <N>/<unit> [<N>/<unit>...] | off   # default 20/minute
//	}
//
// <methods> <path> is a hub.Route, as in every hub policy: <methods> is
// one method or a comma list (GET,HEAD), in any case, or * for all; GET
// also matches HEAD. <path> is a pattern: /api/v1/widgets/{id}, /oauth/*.
//
// failed_auth limits failed authentications (unknown, expired, revoked or
// malformed credentials) per client network: the IPv4 address, or the
// IPv6 prefix of the hub app's ipv6_prefix (default /64). Once a network
// is over the limit, every credential it sends, valid or not, is refused
// with 429 and Retry-After until a unit comes back, without asking the
// upstream; below the limit nothing changes. <unit> is second, minute,
// hour or day; several rates (one per unit) all apply.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "public", "require", "authenticated":
			kind := d.Val()
			args := d.RemainingArgs()
			if len(args) < 2 || (kind == "require" && len(args) < 3) || (kind != "require" && len(args) > 2) {
				return d.ArgErr()
			}
			route, err := hub.ParseRoute(args[0], args[1])
			if err != nil {
				return d.Errf("%s: %v", kind, err)
			}
			rule := &Rule{Route: route, Public: kind == "public"}
			if kind == "require" {
				rule.Scopes = args[2:]
			}
			if err := rule.checkScopes(); err != nil {
				return d.Errf("%s: %v", kind, err)
			}
			h.Rules = append(h.Rules, rule)
		case "resource_prefix":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if (a == "off" && len(args) > 1) || (a != "off" && !strings.HasPrefix(a, "/")) {
					return d.Errf("resource_prefix %q must start with / (or be a lone off)", a)
				}
			}
			h.ResourcePrefixes = append(h.ResourcePrefixes, args...)
		case "failed_auth":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if args[0] == "off" && len(args) > 1 {
				return d.Errf("failed_auth off takes no other argument, got %q", args[1])
			}
			seen := map[time.Duration]bool{}
			for _, a := range args {
				if a == "off" {
					continue
				}
				r, err := hub.ParseRate(a)
				if err != nil {
					return d.Errf("failed_auth: %v", err)
				}
				if seen[r.Period] {
					return d.Errf("failed_auth %q: two rates per %s", a, r.Period)
				}
				seen[r.Period] = true
			}
			h.FailedAuth = args
		case "realm":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Realm = d.Val()
		default:
			return d.Errf("hub_auth: unknown option %q", d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
