package hub

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseRoutes reads the hub app's routes option, a file or a block:
//
//	routes <file.json>
//	routes {
//	    prefix    <path>                       # default /api
//	    namespace <segment>...                 # e.g. auth for /api/auth/...
//	    path      <path> [<action> [<type>]]   # an exact path and its audit action
//	    resource  <name>... [{ <options> }]    # first segment under <prefix>/<version>/
//	    word      <name>... [{ <options> }]    # any other literal segment
//	    max_depth <n>                          # default 4
//	}
//
// where <options> are the audit's naming of a name (RouteName):
//
//	singular <s> | single | group | type <t> | action <a> | delete <verb>
func parseRoutes(d *caddyfile.Dispenser, a *App) error {
	if d.NextArg() {
		a.RoutesFile = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	}
	rt := new(Routes)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch sub := d.Val(); sub {
		case "prefix":
			if !d.NextArg() {
				return d.ArgErr()
			}
			rt.Prefix = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "namespace":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			rt.Namespaces = append(rt.Namespaces, args...)
		case "path":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 3 {
				return d.Errf("routes path: want <path> [<action> [<type>]], got %d arguments", len(args))
			}
			p := &RoutePath{Path: args[0]}
			if len(args) > 1 {
				p.Action = args[1]
			}
			if len(args) > 2 {
				p.Type = args[2]
			}
			rt.Paths = append(rt.Paths, p)
		case "resource", "word":
			names, err := parseRouteNames(d, sub)
			if err != nil {
				return err
			}
			if sub == "resource" {
				rt.Resources = append(rt.Resources, names...)
			} else {
				rt.Words = append(rt.Words, names...)
			}
		case "max_depth":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 {
				return d.Errf("routes max_depth %q: want a positive number", d.Val())
			}
			rt.MaxDepth = n
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("routes: unknown option %q", sub)
		}
	}
	a.Routes = rt
	return nil
}

// parseRouteNames reads `resource|word <name>... [{ options }]`: the
// options apply to every name of the line.
func parseRouteNames(d *caddyfile.Dispenser, sub string) ([]*RouteName, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	var opt RouteName
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		switch key {
		case "single":
			opt.Single = true
		case "group":
			opt.Group = true
		case "singular", "type", "action", "delete":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			v := d.Val()
			*map[string]*string{"singular": &opt.Singular, "type": &opt.Type, "action": &opt.Action, "delete": &opt.Delete}[key] = v
		default:
			return nil, d.Errf("routes %s: unknown option %q", sub, key)
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	names := make([]*RouteName, len(args))
	for i, name := range args {
		n := opt
		n.Name = name
		names[i] = &n
	}
	return names, nil
}
