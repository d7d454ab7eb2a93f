package hubratelimit

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_rate_limit", parseCaddyfile)
	// After hub_auth (which is after basic_auth) so the principal is known,
	// before everything that costs resources (docs/ARCHITECTURE.md, request path).
	httpcaddyfile.RegisterDirectiveOrder("hub_rate_limit", httpcaddyfile.Before, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_rate_limit {
//	    default <N>/<unit> [burst <N>/<unit>...] | off
//	    per_user <N>/<unit> [burst <N>/<unit>...] | off
//	    per_client <N>/<unit> [burst <N>/<unit>...] | off
//	    rule <name> <methods|*> <path> [<methods|*> <path>...] <N>/<unit> [per ip|principal|user|client] [burst <N>/<unit>...]
//	    fail_open | fail_closed
//	    warn_interval <duration>
//	    retry_interval <duration>
//	}
//
// <unit> is second, minute, hour or day. default (1000/hour) counts every
// request per principal (hub.PrincipalOf: the API key; the OAuth2 client
// and user together; the user; the client network when anonymous); a
// key's own rate_limit replaces it. per_user (off by default) is a quota
// of each user across all of the user's keys and tokens; per_client (off
// by default) an aggregate of all users of an OAuth2 client. Every
// matching rule counts too; the strictest window decides.
//
// A rule names one or more endpoints, each <methods> <path>, and all of
// them share the rule's buckets:
//
//	rule login POST /api/auth/login POST /oauth/login 5/minute per ip
//
// gives a client network five password attempts a minute in all, whichever
// endpoint they go to. Each <methods> <path> is a hub.Route, as in every
// hub policy: <methods> is one method or a comma list (GET,HEAD), in any
// case, or * for all; GET also matches HEAD. <path> is a pattern:
// /api/v1/widgets/{id}, /oauth/*. per ip counts by client network (IPv6
// by the hub app's ipv6_prefix, default /64); per user and per client skip
// requests that have no user or no OAuth2 client.
//
// Values are checked here, so a bad unit, limit, method or pattern is
// refused when the Caddyfile is adapted, with the offending token named.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "default":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if args[0] == "off" {
				if len(args) > 1 {
					return d.Errf("default off takes no other argument, got %q", args[1])
				}
				h.Default = []string{"off"}
				continue
			}
			rates, err := parseRates(d, args[0], args[1:])
			if err != nil {
				return err
			}
			if _, err := newPolicy(DefaultPolicyName, rates); err != nil {
				return d.Errf("default: %v", err)
			}
			h.Default = rates
		case "per_user", "per_client":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			var rates []string
			if args[0] != "off" {
				var err error
				if rates, err = parseRates(d, args[0], args[1:]); err != nil {
					return err
				}
				if _, err := newPolicy(opt, rates); err != nil {
					return d.Errf("%s: %v", opt, err)
				}
			} else if len(args) > 1 {
				return d.Errf("%s off takes no other argument, got %q", opt, args[1])
			}
			if opt == "per_user" {
				h.PerUser = rates
			} else {
				h.PerClient = rates
			}
		case "rule":
			rule, err := parseRule(d)
			if err != nil {
				return err
			}
			for _, r := range h.Rules {
				if r.Name == rule.Name {
					return d.Errf("rule %q: duplicate rule name", rule.Name)
				}
			}
			h.Rules = append(h.Rules, rule)
		case "fail_open", "fail_closed":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.FailClosed = opt == "fail_closed"
		case "warn_interval", "retry_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("%s %q: want a positive duration such as 1m", opt, d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt == "warn_interval" {
				h.WarnInterval = caddy.Duration(dur)
			} else {
				h.RetryInterval = caddy.Duration(dur)
			}
		default:
			return d.Errf("hub_rate_limit: unknown option %q", opt)
		}
	}
	return nil
}

// parseRule reads: <name> <methods|*> <path> [<methods|*> <path>...] <rate>
// [per ip|principal|user|client] [burst <rate>...]. One endpoint fills
// Methods and Path; several fill Endpoints.
func parseRule(d *caddyfile.Dispenser) (*Rule, error) {
	const usage = "rule: want <name> <methods|*> <path> [<methods|*> <path>...] <N>/<unit> [per ip|principal|user|client] [burst <N>/<unit>...]"
	args := d.RemainingArgs()
	if len(args) < 4 {
		return nil, d.Errf("%s, got %d arguments", usage, len(args))
	}
	rule := &Rule{Name: args[0]}
	// Endpoints are pairs: the first always, then every pair whose second
	// member is a path ("/…"); the first token after them is the rate.
	i := 1
	var eps []Endpoint
	for i+1 < len(args) && (i == 1 || strings.HasPrefix(args[i+1], "/")) {
		e, err := hub.ParseRoute(args[i], args[i+1])
		if err != nil {
			return nil, d.Errf("rule %s: %v", rule.Name, err)
		}
		eps = append(eps, e)
		i += 2
	}
	if len(eps) == 0 || i >= len(args) {
		return nil, d.Errf("%s, got %q", usage, strings.Join(args, " "))
	}
	if len(eps) == 1 {
		rule.Methods, rule.Path = eps[0].Methods, eps[0].Path
	} else {
		rule.Endpoints = eps
	}
	rate := args[i]
	rest := args[i+1:]
	var extra []string
	for len(rest) > 0 {
		switch rest[0] {
		case "per":
			if len(rest) < 2 {
				return nil, d.Errf("rule %s: per needs ip, principal, user or client", rule.Name)
			}
			switch rest[1] {
			case PerIP, PerPrincipal, PerUser, PerClient:
			default:
				return nil, d.Errf("rule %s: per %q: want ip, principal, user or client", rule.Name, rest[1])
			}
			rule.Per = rest[1]
			rest = rest[2:]
		case "burst":
			n := 1
			for n < len(rest) && rest[n] != "per" && rest[n] != "burst" {
				n++
			}
			if n == 1 {
				return nil, d.Errf("rule %s: burst needs at least one <N>/<unit>", rule.Name)
			}
			extra = append(extra, rest[1:n]...)
			rest = rest[n:]
		default:
			return nil, d.Errf("rule %s: unexpected %q (want per or burst)", rule.Name, rest[0])
		}
	}
	rule.Rates = append([]string{rate}, extra...)
	if err := rule.compile(); err != nil {
		return nil, d.Errf("rule %s: %v", rule.Name, err)
	}
	return rule, nil
}

// parseRates reads "<rate> [burst <rate>...]".
func parseRates(d *caddyfile.Dispenser, first string, rest []string) ([]string, error) {
	rates := []string{first}
	if len(rest) > 0 {
		if rest[0] != "burst" || len(rest) < 2 {
			return nil, d.Errf("after %q want burst <N>/<unit>..., got %q", first, strings.Join(rest, " "))
		}
		rates = append(rates, rest[1:]...)
	}
	for _, r := range rates {
		if _, err := ParseRate(r); err != nil {
			return nil, d.Errf("%v", err)
		}
	}
	return rates, nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
