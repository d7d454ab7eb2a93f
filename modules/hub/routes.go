package hub

import (
	"net/http"
	"strings"
)

// knownResources are the first path segments under /api/vN/ that get their
// own route template; anything else is "other", so that metric and audit
// labels stay bounded whatever clients send.
var knownResources = map[string]bool{
	"chantiers": true, "pointages": true, "documents": true, "signalements": true,
	"affectations": true, "planning": true, "stats": true, "users": true, "admin": true,
	"openapi.json": true,
}

// RouteTemplate maps a request path to a bounded route template:
//
//	/api/v1/chantiers/42          → /api/v1/chantiers/{id}
//	/api/auth/login               → /api/auth/login
//	/api/v1/admin/api-keys/abc    → /api/v1/admin/api-keys/{id}
//	/api/auth/api-keys/abc/rotate → /api/auth/api-keys/{id}/rotate
//	/api/v1/unknown               → /api/v1/other
//	/anything/else                → other
func RouteTemplate(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || segs[0] != "api" {
		switch path {
		case "/healthz", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
			"/oauth/authorize", "/oauth/token", "/oauth/revoke", "/oauth/introspect":
			return path
		}
		return "other"
	}
	var b strings.Builder
	b.WriteString("/api")
	version := segs[1]
	rest := segs[2:]
	switch {
	case version == "auth":
		b.WriteString("/auth")
	case len(version) == 2 && version[0] == 'v' && version[1] >= '1' && version[1] <= '9':
		b.WriteString("/" + version)
		if len(rest) == 0 {
			return b.String()
		}
		if !knownResources[rest[0]] {
			return b.String() + "/other"
		}
	default:
		return "/api/other"
	}
	// Known resource and action names are kept; any other segment is an
	// id (a random key id may well be all letters). At most 4 segments,
	// so the template set is finite.
	for i, s := range rest {
		if i >= 4 {
			b.WriteString("/…")
			break
		}
		if knownResources[s] || knownActions[s] {
			b.WriteString("/" + s)
		} else {
			b.WriteString("/{id}")
		}
	}
	return b.String()
}

// knownActions are the literal non-resource segments of the API.
var knownActions = map[string]bool{
	"login": true, "api-keys": true, "rotate": true, "audit-logs": true, "anomalies": true,
	"apps": true, "clients": true, "oauth-clients": true, "me": true,
}

// RouteOf is RouteTemplate(r.URL.Path), computed once per request and path:
// hub_metrics, hub_audit and the others that label by endpoint share it.
func RouteOf(r *http.Request) string {
	s := stateOf(r, true)
	if s != nil && s.routeTmpl != "" && s.routePath == r.URL.Path {
		return s.routeTmpl
	}
	tmpl := RouteTemplate(r.URL.Path)
	if s != nil {
		s.routePath, s.routeTmpl = r.URL.Path, tmpl
	}
	return tmpl
}
