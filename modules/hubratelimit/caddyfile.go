package hubratelimit

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_rate_limit", parseCaddyfile)
	// After hub_auth (which is after basic_auth) so the principal is known,
	// before everything that costs resources (DESIGN.md, handler order).
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
//	    rule <name> <methods|*> <path> <N>/<unit> [per ip|principal] [burst <N>/<unit>...]
//	    fail_open | fail_closed
//	    warn_interval <duration>
//	    retry_interval <duration>
//	}
//
// <unit> is second, minute, hour or day. default (1000/hour) counts every
// request per principal (API key, user, OAuth client; client IP when
// anonymous); a key's own rate_limit replaces it. Every matching rule
// counts too; the strictest window decides. <methods> is one method or a
// comma list (GET,HEAD); GET also matches HEAD. <path> is a pattern:
// /api/v1/chantiers/{id}, /oauth/*.
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

// parseRule reads: <name> <methods|*> <path> <rate> [per ip|principal] [burst <rate>...]
func parseRule(d *caddyfile.Dispenser) (*Rule, error) {
	args := d.RemainingArgs()
	if len(args) < 4 {
		return nil, d.Errf("rule: want <name> <methods|*> <path> <N>/<unit> [per ip|principal] [burst <N>/<unit>...], got %d arguments", len(args))
	}
	rule := &Rule{Name: args[0], Path: args[2]}
	if args[1] != "*" {
		rule.Methods = strings.Split(args[1], ",")
	}
	rest := args[4:]
	var extra []string
	for len(rest) > 0 {
		switch rest[0] {
		case "per":
			if len(rest) < 2 {
				return nil, d.Errf("rule %s: per needs ip or principal", rule.Name)
			}
			if rest[1] != PerIP && rest[1] != PerPrincipal {
				return nil, d.Errf("rule %s: per %q: want ip or principal", rule.Name, rest[1])
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
	rule.Rates = append([]string{args[3]}, extra...)
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
