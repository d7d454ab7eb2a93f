package hubidempotency

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_idempotency", parseCaddyfile)
	// Inside hub_auth, hub_rate_limit, hub_anomaly (a refused request
	// takes no key) and hub_request_body (the body is read once, bounded);
	// outside hub_batch and the body transformers (hub_etag, hub_fields,
	// hub_version, hub_cache), so a replay is the exact bytes the client
	// got. See docs/idempotency.md.
	httpcaddyfile.RegisterDirectiveOrder("hub_idempotency", httpcaddyfile.After, "request_header")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_idempotency {
//	    methods        <method...>         # default POST PATCH
//	    ttl            <duration>          # answers kept for replay; default 24h
//	    lock_ttl       <duration>          # longest "in flight" (409) of a dead holder; default 2m
//	    max_key_length <n>                 # bytes; default 255
//	    max_size       <size>              # largest answer body kept; default 1MiB
//	    max_body_size  <size>              # largest request body fingerprinted; default 1MiB
//	    require        <methods|*> <path>  # a key is required there (400 without); repeatable
//	    no_store       <methods|*> <path>  # answers never kept (routes minting secrets); repeatable
//	    fail_open                          # store down: run without the key instead of 503
//	}
//
// <methods|*> <path> is a hub.Route, as in every hub policy.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.ArgErr()
			}
			return args[0], nil
		}
		switch sub {
		case "methods":
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				h.Methods = append(h.Methods, strings.Split(a, ",")...)
			}
		case "ttl", "lock_ttl":
			v, err := one()
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 || dur > 30*24*time.Hour {
				return d.Errf("hub_idempotency: %s %q is not a positive duration (at most 720h)", sub, v)
			}
			if sub == "ttl" {
				h.TTL = caddy.Duration(dur)
			} else {
				h.LockTTL = caddy.Duration(dur)
			}
		case "max_key_length":
			v, err := one()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 4096 {
				return d.Errf("hub_idempotency: max_key_length %q is not a number of bytes from 1 to 4096", v)
			}
			h.MaxKeyLength = n
		case "max_size", "max_body_size":
			v, err := one()
			if err != nil {
				return err
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("hub_idempotency: %s %q is not a positive size up to 1GiB (e.g. 1MiB)", sub, v)
			}
			if sub == "max_size" {
				h.MaxSize = int64(n)
			} else {
				h.MaxBodySize = int64(n)
			}
		case "require", "no_store":
			if len(args) != 2 {
				return d.Errf("hub_idempotency: %s takes <methods|*> <path>", sub)
			}
			rt, err := hub.ParseRoute(args[0], args[1])
			if err != nil {
				return d.Errf("hub_idempotency: %s: %v", sub, err)
			}
			if sub == "require" {
				h.Require = append(h.Require, rt)
			} else {
				h.NoStore = append(h.NoStore, rt)
			}
		case "fail_open":
			if len(args) != 0 {
				return d.ArgErr()
			}
			h.FailOpen = true
		default:
			return d.Errf("hub_idempotency: unknown subdirective %q", sub)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
