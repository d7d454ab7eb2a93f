package hubauth

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/pathpattern"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_auth", parseCaddyfile)
	// First of the hub policies: nothing that costs resources runs before
	// the caller is known (DESIGN.md, handler order).
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
//	}
//
// <methods> is one method or a comma list (GET,HEAD); GET also matches HEAD.
// <path> is a pattern: /api/v1/chantiers/{id}, /oauth/*.
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
			rule := &Rule{Path: args[1], Public: kind == "public"}
			if args[0] != "*" {
				rule.Methods = strings.Split(args[0], ",")
			}
			if kind == "require" {
				rule.Scopes = args[2:]
			}
			if err := rule.compile(); err != nil {
				return d.Errf("%s: %v", kind, err)
			}
			rule.pattern = pathpattern.Pattern{}
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
