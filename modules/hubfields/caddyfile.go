package hubfields

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_fields", parseCaddyfile)
	// Inside hub_etag (the ETag describes the selected bytes), outside
	// hub_version (which sees the v1 body first) — docs/ARCHITECTURE.md, request path.
	httpcaddyfile.RegisterDirectiveOrder("hub_fields", httpcaddyfile.After, "intercept")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_fields {
//	    entity <name> <field>...        # whitelist, dotted names (responsable.nom)
//	    object <entity>...              # collection path answers one object (stats)
//	    max_fields <n>                  # default 50
//	    max_levels <n>                  # default 5
//	    max_body <size>                 # default 4MiB; larger answers pass through
//	    defer_prefix <prefix>... | off  # default /api/v2/ (hub_version applies)
//	}
//
// entity may be repeated for one name; the lists add up.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "entity":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.ArgErr()
			}
			if strings.ContainsAny(args[0], "/.*") {
				return d.Errf("entity %q: a name is one path segment", args[0])
			}
			for _, f := range args[1:] {
				if f == "password_hash" || strings.HasSuffix(f, ".password_hash") {
					// Defence in depth: the one column that must never leave.
					return d.Errf("entity %s: field %q may not be whitelisted", args[0], f)
				}
			}
			if h.Entities == nil {
				h.Entities = map[string][]string{}
			}
			h.Entities[args[0]] = append(h.Entities[args[0]], args[1:]...)
		case "object":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Objects = append(h.Objects, args...)
		case "max_fields", "max_levels":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 {
				return d.Errf("%s %q: want a positive integer", opt, d.Val())
			}
			if opt == "max_fields" {
				h.MaxFields = n
			} else {
				h.MaxLevels = n
			}
		case "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n < 1 || n > 1<<30 {
				return d.Errf("max_body %q: want a size such as 4MiB (at most 1GiB)", d.Val())
			}
			h.MaxBody = int(n)
		case "defer_prefix":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if (a == "off" && len(args) > 1) || (a != "off" && !strings.HasPrefix(a, "/")) {
					return d.Errf("defer_prefix %q must start with / (or be a lone off)", a)
				}
			}
			h.DeferPrefixes = append(h.DeferPrefixes, args...)
		default:
			return d.Errf("hub_fields: unknown option %q", opt)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
