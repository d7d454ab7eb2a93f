package hubbreaker

import (
	"errors"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	// Caddy's own reverse_proxy directive (v2.11) has no circuit_breaker
	// subdirective although its JSON has the field; hub_reverse_proxy is
	// reverse_proxy plus that one subdirective, and adapts to a plain
	// reverse_proxy handler.
	httpcaddyfile.RegisterHandlerDirective("hub_reverse_proxy", parseReverseProxy)
	httpcaddyfile.RegisterDirectiveOrder("hub_reverse_proxy", httpcaddyfile.After, "reverse_proxy")
}

// UnmarshalCaddyfile sets up the breaker from Caddyfile tokens, as the
// argument of reverse_proxy's circuit_breaker subdirective:
//
//	circuit_breaker hub {
//	    name                 <upstream name>   # default upstream
//	    consecutive_failures <n>               # default 5
//	    failure_ratio        <0..1>            # default 0.5
//	    min_requests         <n>               # default 20
//	    window               <duration>        # default 30s
//	    open_timeout         <duration>        # default 10s
//	    half_open_requests   <n>               # default 1
//	    probe_timeout        <duration>        # default open_timeout
//	    failure_latency      <duration>        # default off
//	}
func (b *Breaker) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		var err error
		switch opt {
		case "name":
			b.Name = val
		case "consecutive_failures":
			b.ConsecutiveFailures, err = positiveInt(val)
		case "min_requests":
			b.MinRequests, err = positiveInt(val)
		case "half_open_requests":
			b.HalfOpenRequests, err = positiveInt(val)
		case "failure_ratio":
			b.FailureRatio, err = strconv.ParseFloat(val, 64)
			if err == nil && (b.FailureRatio <= 0 || b.FailureRatio > 1) {
				return d.Errf("failure_ratio %q: must be in (0, 1]", val)
			}
		case "window":
			b.Window, err = positiveDuration(val)
		case "open_timeout":
			b.OpenTimeout, err = positiveDuration(val)
		case "probe_timeout":
			b.ProbeTimeout, err = positiveDuration(val)
		case "failure_latency":
			b.FailureLatency, err = positiveDuration(val)
		default:
			return d.Errf("circuit_breaker hub: unknown option %q", opt)
		}
		if err != nil {
			return d.Errf("%s %q: %v", opt, val, err)
		}
	}
	return nil
}

func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errNotPositive
	}
	return n, nil
}

func positiveDuration(s string) (caddy.Duration, error) {
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, errNotPositiveDuration
	}
	return caddy.Duration(v), nil
}

var (
	errNotPositive         = errors.New("want a positive integer")
	errNotPositiveDuration = errors.New("want a positive duration such as 10s")
)

// parseReverseProxy parses hub_reverse_proxy:
//
//	hub_reverse_proxy [<matcher>] [<upstreams...>] {
//	    # every reverse_proxy subdirective, plus:
//	    circuit_breaker <module> {
//	        ...
//	    }
//	}
//
// The circuit_breaker segment is cut out and adapted as the handler's
// circuit_breaker module; everything else goes to reverse_proxy's own
// parser untouched, so the result is exactly the reverse_proxy handler
// Caddy would build, with its circuit_breaker field set.
func parseReverseProxy(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	d := h.Dispenser
	d.Next() // directive name
	kept := []caddyfile.Token{d.Token()}
	for d.NextArg() {
		kept = append(kept, d.Token())
	}
	var cbSeg caddyfile.Segment
	opened := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if !opened {
			// NextBlock consumed the opening brace; keep it.
			d.Prev()
			kept = append(kept, d.Token())
			d.Next()
			opened = true
		}
		seg := d.NextSegment()
		if seg[0].Text == "circuit_breaker" {
			if cbSeg != nil {
				return nil, d.Err("circuit_breaker: given twice")
			}
			cbSeg = seg
			continue
		}
		kept = append(kept, seg...)
	}
	if opened {
		kept = append(kept, d.Token()) // closing brace
	}

	rd := caddyfile.NewDispenser(kept)
	rp := new(reverseproxy.Handler)
	if err := rp.UnmarshalCaddyfile(rd); err != nil {
		return nil, err
	}
	if err := rp.FinalizeUnmarshalCaddyfile(h.WithDispenser(rd)); err != nil {
		return nil, err
	}
	if cbSeg != nil {
		cd := caddyfile.NewDispenser(cbSeg)
		cd.Next() // circuit_breaker
		if !cd.NextArg() {
			return nil, cd.ArgErr()
		}
		name := cd.Val()
		unm, err := caddyfile.UnmarshalModule(cd, "http.reverse_proxy.circuit_breakers."+name)
		if err != nil {
			return nil, err
		}
		var warnings []caddyconfig.Warning
		rp.CBRaw = caddyconfig.JSONModuleObject(unm, "type", name, &warnings)
	}
	return rp, nil
}

var _ caddyfile.Unmarshaler = (*Breaker)(nil)
