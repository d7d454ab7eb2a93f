package hub

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("hub", parseGlobal)
}

// parseGlobal parses the hub global option (syntax in App's doc comment).
func parseGlobal(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "hub", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens:
//
//	hub {
//	    upstream <url>
//	    secret <secret>
//	    accept_secret <secret>      # during a rollover: the upstream's other secret (never signs)
//	    store memory [<name>] | redis <url> [{ cluster; prefix <p> }]
//	    issuer <iss>
//	    allow_issuer_change         # let a reload change the issuer (tokens issued before get 401)
//	    audience <aud>
//	    key_cache_ttl <duration>
//	    negative_cache_ttl <duration>
//	    revocation_wait <duration>
//	    jwks_min_refresh <duration>
//	    usage_interval <duration>
//	    ipv6_prefix <bits>          # 1-128, default 64
//	    routes <file.json>          # the API's vocabulary (Routes), from a file
//	    routes {                    # ... or inline
//	        prefix    <path>                      # default /api
//	        namespace <segment>...                # unversioned subtree: /api/auth/...
//	        path      <path> [<action> [<type>]]  # exact path and its audit action
//	        resource  <name>... [{ <options> }]   # first segment under <prefix>/<version>/
//	        word      <name>... [{ <options> }]   # any other literal segment
//	        max_depth <n>                         # default 4
//	    }
//	}
//
// <options> name the audit's actions on a resource or word (RouteName):
// singular <s>, single, group, type <t>, action <a>, delete <verb>. Without
// routes no resource is known: API paths are labelled /api/<version>/other
// (docs/metrics.md, "Route templates").
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "upstream", "secret", "accept_secret", "issuer", "audience":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			v := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch name {
			case "upstream":
				a.Upstream = v
			case "secret":
				a.Secret = v
			case "accept_secret":
				a.AcceptSecret = v
			case "issuer":
				a.Issuer = v
			case "audience":
				a.Audience = v
			}
		case "allow_issuer_change":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.AllowIssuerChange = true
		case "key_cache_ttl", "negative_cache_ttl", "revocation_wait", "jwks_min_refresh", "usage_interval":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("%s: invalid duration %q", name, d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			target := map[string]*caddy.Duration{
				"key_cache_ttl": &a.KeyCacheTTL, "negative_cache_ttl": &a.NegativeCacheTTL,
				"revocation_wait": &a.RevocationWait, "jwks_min_refresh": &a.JWKSMinRefresh,
				"usage_interval": &a.UsageInterval,
			}[name]
			*target = caddy.Duration(dur)
		case "ipv6_prefix":
			if !d.NextArg() {
				return d.ArgErr()
			}
			bits, err := strconv.Atoi(d.Val())
			if err != nil || bits < 1 || bits > 128 {
				return d.Errf("ipv6_prefix %q: want a number of bits from 1 to 128", d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			a.IPv6Prefix = bits
		case "routes":
			if err := parseRoutes(d, a); err != nil {
				return err
			}
		case "store":
			raw, err := parseStore(d)
			if err != nil {
				return err
			}
			a.StoreRaw = raw
		default:
			return d.Errf("hub: unknown option %q", d.Val())
		}
	}
	return nil
}

// parseStore reads `store memory [name]` or `store redis <url> { … }`. An
// empty redis URL (an unset {$HUB_REDIS_URL}) selects the memory store, so
// one Caddyfile serves both set-ups.
func parseStore(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	switch d.Val() {
	case "memory":
		m := MemoryStore{}
		if d.NextArg() {
			m.Name = d.Val()
		}
		return caddyconfig.JSONModuleObject(m, "backend", "memory", nil), nil
	case "redis":
		r := RedisStore{}
		if d.NextArg() {
			r.URL = d.Val()
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch d.Val() {
			case "cluster":
				r.Cluster = true
			case "prefix":
				if !d.NextArg() {
					return nil, d.ArgErr()
				}
				r.Prefix = d.Val()
			default:
				return nil, d.Errf("store redis: unknown option %q", d.Val())
			}
		}
		if r.URL == "" {
			return caddyconfig.JSONModuleObject(MemoryStore{}, "backend", "memory", nil), nil
		}
		return caddyconfig.JSONModuleObject(r, "backend", "redis", nil), nil
	default:
		return nil, d.Errf("store: unknown backend %q (want memory or redis)", d.Val())
	}
}

var _ caddyfile.Unmarshaler = (*App)(nil)
