package hubaudit

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("hub_audit", parseCaddyfile)
	// Outermost policy (docs/ARCHITECTURE.md, request path): it must see the 401s of
	// hub_auth, the 429s of hub_rate_limit and the 304s of hub_etag.
	httpcaddyfile.RegisterDirectiveOrder("hub_audit", httpcaddyfile.Before, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_audit {
//	    journal          <dir>                     # default $XDG_DATA_HOME/caddy/hub_audit
//	    allow_journal_change                       # let a reload move the journal (a new chain)
//	    max_journal_size <size>                    # default 1GiB
//	    segment_size     <size>                    # default 16MiB
//	    on_full          refuse_sensitive | drop   # default refuse_sensitive
//	    sensitive        <methods|*> <path>        # repeatable; default: writes, admin, auth
//	    no_body_hash     <methods|*> <path>        # repeatable; default: login, /oauth/*, /internal/*
//	    batch_size       <n>                       # default 500
//	    ship_interval    <duration>                # default 200ms
//	    log_stream       on | off                  # default off
//	}
//
// <methods> <path> is a hub.Route, as in every hub policy: <methods> is one
// method or a comma list (POST,PUT), in any case, or * for all; GET also
// matches HEAD. <path> is a pattern: /api/v1/widgets/{id}, /oauth/*.
//
// Sizes take units (64KiB, 16MiB, 1GiB). An empty journal argument (from
// an unset {$VAR:}) keeps the default.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("hub_audit takes no arguments, got %q", d.Val())
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.Errf("%s takes one argument, got %d", opt, len(args))
			}
			return args[0], nil
		}
		switch opt {
		case "allow_journal_change":
			if len(args) != 0 {
				return d.Errf("allow_journal_change takes no argument")
			}
			h.AllowJournalChange = true
		case "journal":
			// No argument (an unset {$HUB_AUDIT_DIR:}) keeps the default.
			if len(args) > 1 {
				return d.Errf("journal takes one directory, got %d arguments", len(args))
			}
			if len(args) == 1 {
				h.Journal = args[0]
			}
		case "max_journal_size", "segment_size":
			v, err := one()
			if err != nil {
				return err
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 {
				return d.Errf("%s: invalid size %q", opt, v)
			}
			if opt == "max_journal_size" {
				h.MaxJournalSize = int64(n)
			} else {
				h.SegmentSize = int64(n)
			}
		case "on_full":
			v, err := one()
			if err != nil {
				return err
			}
			if v != OnFullRefuseSensitive && v != OnFullDrop {
				return d.Errf("on_full must be %s or %s, got %q", OnFullRefuseSensitive, OnFullDrop, v)
			}
			h.OnFull = v
		case "sensitive", "no_body_hash":
			if len(args) != 2 {
				return d.Errf("%s takes <methods|*> <path>, got %d arguments", opt, len(args))
			}
			r, err := hub.ParseRoute(args[0], args[1])
			if err != nil {
				return d.Errf("%s %q: %v", opt, args[1], err)
			}
			if opt == "sensitive" {
				h.Sensitive = append(h.Sensitive, &r)
			} else {
				h.NoBodyHash = append(h.NoBodyHash, &r)
			}
		case "batch_size":
			v, err := one()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return d.Errf("batch_size must be an integer from 1 to 10000, got %q", v)
			}
			h.BatchSize = n
		case "ship_interval":
			v, err := one()
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("ship_interval: invalid duration %q", v)
			}
			h.ShipInterval = caddy.Duration(dur)
		case "log_stream":
			v, err := one()
			if err != nil {
				return err
			}
			switch v {
			case "on":
				h.LogStream = true
			case "off":
				h.LogStream = false
			default:
				return d.Errf("log_stream must be on or off, got %q", v)
			}
		default:
			return d.Errf("hub_audit: unknown option %q", opt)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
