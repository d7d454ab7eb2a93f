package hub

import (
	"net/http"
	"strings"
)

// Template maps a request path to a bounded route template, the
// endpoint label of metrics, audit records and logs. The vocabulary (which
// segments are names, which are ids) is the hub app's Routes
// (docs/metrics.md, "Route templates"); with the Hub Chantier vocabulary of
// configs/hub-routes.json:
//
//	/api/v1/<resource>/42         → /api/v1/<resource>/{id}
//	/api/<namespace>/<word>       → /api/<namespace>/<word>
//	/api/<namespace>/<word>/abc/<word> → /api/<namespace>/<word>/{id}/<word>
//	/api/v1/unknown               → /api/v1/other
//	/api/zz/x                     → /api/other
//	<a listed exact path>         → itself
//	/anything/else                → other
//
// Every segment of a template is a configured name, {id}, "other" or "…"
// and there are at most MaxDepth of them after the version, so the set of
// templates is finite whatever clients send.
func (rt *Routes) Template(path string) string {
	rt = rt.orDefault()
	if _, ok := rt.paths[path]; ok {
		return path
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	n := len(rt.prefixSegs)
	if len(segs) < n+1 || !hasSegs(segs, rt.prefixSegs) {
		return "other"
	}
	var b strings.Builder
	b.WriteString(rt.prefix)
	version := segs[n]
	rest := segs[n+1:]
	switch {
	case rt.namespaces[version]:
		b.WriteString("/" + version)
	case isVersion(version):
		b.WriteString("/" + version)
		if len(rest) == 0 {
			return b.String()
		}
		if _, ok := rt.resources[rest[0]]; !ok {
			return b.String() + "/other"
		}
	default:
		return rt.prefix + "/other"
	}
	// Configured names are kept; any other segment is an id (a random
	// key id may well be all letters). At most MaxDepth segments, so the
	// template set is finite.
	for i, s := range rest {
		if i >= rt.MaxDepth {
			b.WriteString("/…")
			break
		}
		if _, ok := rt.names[s]; ok {
			b.WriteString("/" + s)
		} else {
			b.WriteString("/{id}")
		}
	}
	return b.String()
}

// isVersion reports whether a segment is an API version, v1 to v9.
func isVersion(s string) bool {
	return len(s) == 2 && s[0] == 'v' && s[1] >= '1' && s[1] <= '9'
}

// hasSegs reports whether segs starts with prefix.
func hasSegs(segs, prefix []string) bool {
	for i, p := range prefix {
		if segs[i] != p {
			return false
		}
	}
	return true
}

// TreeDepth is the number of leading segments of a template (split on
// "/") that are the prefix plus the version or namespace, and whether the
// template names something below them: describe-style consumers (the audit
// action) read the resource at that index.
func (rt *Routes) TreeDepth(parts []string) (int, bool) {
	rt = rt.orDefault()
	n := len(rt.prefixSegs)
	if len(parts) < n+2 || !hasSegs(parts, rt.prefixSegs) {
		return 0, false
	}
	return n + 1, true
}

// Name returns the configured resource or word named seg, or nil.
func (rt *Routes) Name(seg string) *RouteName {
	return rt.orDefault().names[seg]
}

// Path returns the configured exact path tmpl, or nil.
func (rt *Routes) Path(tmpl string) *RoutePath {
	return rt.orDefault().paths[tmpl]
}

// Of is Template(r.URL.Path), computed once per request and path (kept in
// the request state): hub_metrics, hub_audit and the others that label by
// endpoint share it. Every handler of one config holds the same Routes, so
// the memo is theirs to share.
func (rt *Routes) Of(r *http.Request) string {
	s := stateOf(r, true)
	if s != nil && s.routeTmpl != "" && s.routePath == r.URL.Path {
		return s.routeTmpl
	}
	tmpl := rt.Template(r.URL.Path)
	if s != nil {
		s.routePath, s.routeTmpl = r.URL.Path, tmpl
	}
	return tmpl
}
