package hubversion

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_version", parseCaddyfile)
	// Inside hub_fields, outside hub_cache: it sees the cached v1 body
	// first (docs/ARCHITECTURE.md, request path).
	httpcaddyfile.RegisterDirectiveOrder("hub_version", httpcaddyfile.After, "templates")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_version {
//	    mapping <file>                 # v2 mapping JSON (configs/v2-mapping.json)
//	    rename <v1_name> <v2Name>      # extra explicit rename (repeatable)
//	    v1_prefix <prefix>             # default /api/v1/
//	    v2_prefix <prefix>             # default /api/v2/
//	    deprecated <date>              # RFC 3339 or YYYY-MM-DD → Deprecation: @<unix>
//	    sunset <date>                  # RFC 3339 or YYYY-MM-DD → Sunset: <HTTP-date>
//	    deprecation_link <url>         # Link rel="deprecation"
//	    sunset_link <url>              # Link rel="sunset"
//	    openapi_source <path>          # default /api/openapi.json
//	    max_body <size>                # default 8MiB (v2 answers)
//	    max_request_body <size>        # default 1MiB (v2 request bodies)
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "rename":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if h.Renames == nil {
				h.Renames = map[string]string{}
			}
			h.Renames[args[0]] = args[1]
			continue
		case "max_body", "max_request_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n < 1 || n > 1<<30 {
				return d.Errf("%s %q: want a size such as 4MiB (at most 1GiB)", opt, d.Val())
			}
			if opt == "max_body" {
				h.MaxBody = int(n)
			} else {
				h.MaxRequestBody = int(n)
			}
			continue
		}
		var dst *string
		switch opt {
		case "mapping":
			dst = &h.Mapping
		case "v1_prefix":
			dst = &h.V1Prefix
		case "v2_prefix":
			dst = &h.V2Prefix
		case "deprecated":
			dst = &h.Deprecated
		case "sunset":
			dst = &h.Sunset
		case "deprecation_link":
			dst = &h.DeprecationLink
		case "sunset_link":
			dst = &h.SunsetLink
		case "openapi_source":
			dst = &h.OpenAPISource
		default:
			return d.Errf("hub_version: unknown option %q", opt)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*dst = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "deprecated", "sunset":
			if _, err := parseDate(*dst); err != nil {
				return d.Errf("%s: %v", opt, err)
			}
		case "v1_prefix", "v2_prefix":
			if !strings.HasPrefix(*dst, "/") || !strings.HasSuffix(*dst, "/") {
				return d.Errf("%s %q must start and end with /", opt, *dst)
			}
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
