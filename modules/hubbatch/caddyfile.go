package hubbatch

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_batch", parseCaddyfile)
	// Inside hub_auth, hub_rate_limit, hub_anomaly and hub_request_body
	// (before request_header), so the batch call itself is authenticated,
	// limited and its body bounded; outside hub_etag, hub_fields,
	// hub_version, hub_cache and the proxy, which the batch answer never
	// needs and each operation meets on its own way through the server.
	// See docs/ARCHITECTURE.md.
	httpcaddyfile.RegisterDirectiveOrder("hub_batch", httpcaddyfile.Before, "encode")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_batch [<matcher>] {
//	    max_operations  <n>          # default 100; more → 400 batch-too-large
//	    parallelism     <n>          # default 4 operations at once (parallel: true)
//	    timeout         <duration>   # default 60s; operations left → 504
//	    max_result_size <size>       # default 1MiB per operation's answer
//	    max_body_size   <size>       # default 1MiB batch body
//	    headers         <name>...    # headers an operation may set (default If-Match, If-None-Match, …)
//	}
//
// The handler answers POST requests whose path ends in /batch (the part
// before is the version prefix operation paths are relative to) and passes
// every other request on; give it a matcher naming the batch endpoints.
// <size> is a byte count with an optional unit (512KiB, 2MB).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "max_operations", "parallelism":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 || n > 10000 {
				return d.Errf("hub_batch: %s %q is not a count from 1 to 10000", name, d.Val())
			}
			if name == "max_operations" {
				h.MaxOperations = n
			} else {
				h.Parallelism = n
			}
		case "timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 || v > time.Hour {
				return d.Errf("hub_batch: timeout %q is not a positive duration up to 1h (e.g. 60s)", d.Val())
			}
			h.Timeout = caddy.Duration(v)
		case "max_result_size", "max_body_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > 1<<32 {
				return d.Errf("hub_batch: %s %q is not a positive size (e.g. 1MiB)", name, d.Val())
			}
			if name == "max_result_size" {
				h.MaxResultSize = int64(n)
			} else {
				h.MaxBodySize = int64(n)
			}
		case "headers":
			h.Headers = d.RemainingArgs()
			if len(h.Headers) == 0 {
				return d.ArgErr()
			}
			continue
		default:
			return d.Errf("hub_batch: unknown subdirective %q", name)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
