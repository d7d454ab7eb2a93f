package hubanomaly

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_anomaly", parseCaddyfile)
	// After hub_rate_limit (Before forward_auth) and hub_auth (After
	// basic_auth): the principal is known, and requests those two refuse
	// are not counted (docs/anomalies.md explains why).
	httpcaddyfile.RegisterDirectiveOrder("hub_anomaly", httpcaddyfile.After, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_anomaly {
//	    error_rate  <ratio> [window <duration>] [min <N>] [block <duration> [429|403]] | off
//	    spike       <factor> [floor <N>] [warmup <duration>] [half_life <duration>] [block <duration> [429|403]] | off
//	    scan        <N> [window <duration>] [block <duration> [429|403]] | off
//	    user_agents <N> [window <duration>] [block <duration> [429|403]] | off
//	    cooldown       <duration>
//	    max_principals <N>
//	    block_cache    <duration>
//	    gateway_id     <id>
//	    queue_size     <N>
//	    webhook [<url>] {
//	        secret  <secret>
//	        timeout <duration>
//	        retries <N>
//	    }
//	}
//
// Every rule is on by default with the defaults of docs/anomalies.md
// (error_rate 0.5 window 1h min 50; spike 5 floor 60 warmup 30m half_life
// 30m; scan 20 window 10m; user_agents 10 window 1h) and none blocks:
// block is opt-in per rule. error_rate fires when more than <ratio> of the
// requests in the window were 4xx; spike when this minute's requests
// exceed <factor> × baseline + floor; scan when <N> distinct paths got 404
// within the window; user_agents when <N> distinct User-Agent values were
// used within the window. A webhook without a URL (an empty
// {$HUB_ANOMALY_WEBHOOK:}) is disabled.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "error_rate":
			r := &ErrorRateRule{}
			if err := parseRule(d, opt, &r.Off, &r.Action, func(v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f <= 0 || f >= 1 {
					return d.Errf("error_rate %q: want a ratio between 0 and 1, such as 0.5", v)
				}
				r.Ratio = f
				return nil
			}, map[string]func(string) error{
				"window": durationOpt(d, opt, "window", &r.Window),
				"min":    intOpt(d, opt, "min", 1, 1<<30, &r.MinRequests),
			}); err != nil {
				return err
			}
			h.ErrorRate = r
		case "spike":
			r := &SpikeRule{}
			if err := parseRule(d, opt, &r.Off, &r.Action, func(v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 1 || f > 1e6 {
					return d.Errf("spike %q: want a factor of at least 1, such as 5", v)
				}
				r.Factor = f
				return nil
			}, map[string]func(string) error{
				"floor":     intOpt(d, opt, "floor", 1, 1<<30, &r.Floor),
				"warmup":    durationOpt(d, opt, "warmup", &r.Warmup),
				"half_life": durationOpt(d, opt, "half_life", &r.HalfLife),
			}); err != nil {
				return err
			}
			h.Spike = r
		case "scan", "user_agents":
			r := &DistinctRule{}
			if err := parseRule(d, opt, &r.Off, &r.Action, intOpt(d, opt, "", 2, maxDistinct, &r.Distinct),
				map[string]func(string) error{"window": durationOpt(d, opt, "window", &r.Window)}); err != nil {
				return err
			}
			if opt == "scan" {
				h.Scan = r
			} else {
				h.UserAgents = r
			}
		case "cooldown", "block_cache":
			var dur caddy.Duration
			if err := oneArg(d, durationOpt(d, opt, "", &dur)); err != nil {
				return err
			}
			if opt == "cooldown" {
				h.Cooldown = dur
			} else {
				h.BlockCache = dur
			}
		case "max_principals":
			if err := oneArg(d, intOpt(d, opt, "", 16, 10_000_000, &h.MaxPrincipals)); err != nil {
				return err
			}
		case "queue_size":
			if err := oneArg(d, intOpt(d, opt, "", 1, 1_000_000, &h.QueueSize)); err != nil {
				return err
			}
		case "gateway_id":
			if err := oneArg(d, func(v string) error { h.GatewayID = v; return nil }); err != nil {
				return err
			}
		case "webhook":
			wh, err := parseWebhook(d)
			if err != nil {
				return err
			}
			h.Webhook = wh
		default:
			return d.Errf("hub_anomaly: unknown option %q", opt)
		}
	}
	return nil
}

// parseRule reads "<first> [<key> <value>]... [block <duration> [429|403]]"
// or "off".
func parseRule(d *caddyfile.Dispenser, rule string, off *bool, a *Action, first func(string) error, opts map[string]func(string) error) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s: want a threshold or off", rule)
	}
	if args[0] == "off" {
		if len(args) > 1 {
			return d.Errf("%s off takes no other argument, got %q", rule, args[1])
		}
		*off = true
		return nil
	}
	if err := first(args[0]); err != nil {
		return err
	}
	for rest := args[1:]; len(rest) > 0; {
		key := rest[0]
		if len(rest) < 2 {
			return d.Errf("%s: %q needs a value", rule, key)
		}
		if key == "block" {
			dur, err := caddy.ParseDuration(rest[1])
			if err != nil || dur <= 0 {
				return d.Errf("%s block %q: want a positive duration such as 10m", rule, rest[1])
			}
			a.Block = caddy.Duration(dur)
			rest = rest[2:]
			if len(rest) > 0 && (rest[0] == "429" || rest[0] == "403") {
				a.BlockStatus, _ = strconv.Atoi(rest[0])
				rest = rest[1:]
			}
			continue
		}
		set, ok := opts[key]
		if !ok {
			return d.Errf("%s: unknown option %q", rule, key)
		}
		if err := set(rest[1]); err != nil {
			return err
		}
		rest = rest[2:]
	}
	return nil
}

func durationOpt(d *caddyfile.Dispenser, rule, key string, dst *caddy.Duration) func(string) error {
	return func(v string) error {
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur <= 0 {
			return d.Errf("%s %s %q: want a positive duration such as 10m", rule, key, v)
		}
		*dst = caddy.Duration(dur)
		return nil
	}
}

func intOpt(d *caddyfile.Dispenser, rule, key string, lo, hi int, dst *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return d.Errf("%s %s %q: want an integer between %d and %d", rule, key, v, lo, hi)
		}
		*dst = n
		return nil
	}
}

// oneArg reads exactly one argument into set.
func oneArg(d *caddyfile.Dispenser, set func(string) error) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	if err := set(d.Val()); err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// parseWebhook reads "webhook [<url>] { secret <s>; timeout <d>; retries <n> }".
func parseWebhook(d *caddyfile.Dispenser) (*Webhook, error) {
	wh := &Webhook{}
	if d.NextArg() {
		wh.URL = d.Val()
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "secret":
			if err := oneArg(d, func(v string) error { wh.Secret = v; return nil }); err != nil {
				return nil, err
			}
		case "timeout":
			if err := oneArg(d, durationOpt(d, "webhook", "timeout", &wh.Timeout)); err != nil {
				return nil, err
			}
		case "retries":
			if err := oneArg(d, intOpt(d, "webhook", "retries", 1, 20, &wh.Retries)); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("webhook: unknown option %q", opt)
		}
	}
	if wh.URL == "" {
		return nil, nil // disabled, e.g. an empty {$HUB_ANOMALY_WEBHOOK:}
	}
	if wh.Secret == "" {
		return nil, d.Errf("webhook %q: a secret is required to sign deliveries", wh.URL)
	}
	return wh, nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
