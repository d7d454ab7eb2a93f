package hubaudit

import (
	"net/http"
	"strings"
)

// describe names what a request did, from its method and route template
// (both bounded, so actions are a finite set): POST /api/v1/chantiers is
// create_chantier, GET /api/v1/chantiers/{id} read_chantier, POST
// /api/auth/api-keys/{id}/rotate rotate_api_key. The resource id is the
// path's {id}, or for a 201 the last segment of Location.
func describe(method, tmpl, path, location string) (action, resType, resID string) {
	switch tmpl {
	case "/healthz":
		return "health_check", "", ""
	case "/oauth/token", "/oauth/authorize", "/oauth/revoke", "/oauth/introspect":
		return "oauth_" + strings.TrimPrefix(tmpl, "/oauth/"), "oauth_token", ""
	case "/.well-known/jwks.json":
		return "read_jwks", "", ""
	case "/.well-known/oauth-authorization-server":
		return "read_oauth_metadata", "", ""
	}
	parts := strings.Split(strings.Trim(tmpl, "/"), "/")
	pathParts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 || parts[0] != "api" {
		return verb(method, false) + "_other", "", ""
	}
	skip := 2 // api + vN or auth
	if parts[skip] == "admin" && len(parts) > skip+1 {
		skip++
	}
	parts = parts[skip:]
	idAt := -1
	for i, p := range parts {
		if p == "{id}" {
			if idAt < 0 {
				idAt = i
			}
		}
	}
	if idAt >= 0 && skip+idAt < len(pathParts) {
		resID = boundID(pathParts[skip+idAt])
	}
	res := strings.ReplaceAll(parts[0], "-", "_")
	res = strings.TrimSuffix(res, ".json")
	switch res {
	case "login":
		return "login", "session", ""
	case "me":
		return verb(method, false) + "_me", "user", ""
	case "stats", "planning", "openapi", "other", "…":
		return verb(method, false) + "_" + res, "", ""
	}
	sing := singular(res)
	resType = sing
	switch {
	case len(parts) == 1:
		switch method {
		case http.MethodGet, http.MethodHead:
			action = "list_" + res
		case http.MethodPost:
			action = "create_" + sing
			if location != "" && resID == "" {
				resID = boundID(location[strings.LastIndexByte(location, '/')+1:])
			}
		default:
			action = verb(method, true) + "_" + res
		}
	case len(parts) == 2 && idAt == 1:
		action = verb(method, true) + "_" + sing
		if method == http.MethodDelete && res == "api_keys" {
			action = "revoke_api_key"
		}
	case len(parts) == 3 && idAt == 1 && parts[2] != "{id}" && parts[2] != "…":
		action = strings.ReplaceAll(parts[2], "-", "_") + "_" + sing
	default:
		action = verb(method, true) + "_" + res
	}
	return action, resType, resID
}

// verb maps a method to the action verb; item is true when the request
// names one resource.
func verb(method string, item bool) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read"
	case http.MethodPost:
		if item {
			return "post"
		}
		return "create"
	case http.MethodPut, http.MethodPatch:
		return "update"
	case http.MethodDelete:
		return "delete"
	case http.MethodOptions:
		return "options"
	}
	return "other"
}

// singular turns a resource collection name into its singular.
func singular(s string) string {
	if strings.HasSuffix(s, "ies") {
		return strings.TrimSuffix(s, "ies") + "y"
	}
	return strings.TrimSuffix(s, "s")
}

// boundID keeps an id only if it is 1–128 characters of [A-Za-z0-9._:-].
func boundID(s string) string {
	if len(s) == 0 || len(s) > 128 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return ""
		}
	}
	return s
}
