package hubaudit

import (
	"net/http"
	"strings"

	"github.com/hubchantier/hubgate/modules/hub"
)

// describe names what a request did, from its method and route template
// (both bounded, so actions are a finite set) and the hub app's route
// vocabulary (hub.Routes, docs/audit.md "Actions"): an exact path has its
// configured action; under the API tree, POST on a collection is
// create_<singular>, GET on it list_<name>, GET on an item
// read_<singular>, POST on <name>/{id}/<word> <word>_<singular>; a
// single name gives <verb>_<name>. The resource id is the path's {id},
// or for a 201 the last segment of Location.
func describe(rt *hub.Routes, method, tmpl, path, location string) (action, resType, resID string) {
	if p := rt.Path(tmpl); p != nil && p.Action != "" {
		return p.Action, p.Type, ""
	}
	parts := strings.Split(strings.Trim(tmpl, "/"), "/")
	pathParts := strings.Split(strings.Trim(path, "/"), "/")
	skip, ok := rt.TreeDepth(parts) // prefix + version or namespace
	if !ok {
		return verb(method, false) + "_other", "", ""
	}
	if n := rt.Name(parts[skip]); n != nil && n.Group && len(parts) > skip+1 {
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
	spec := rt.Name(parts[0])
	if spec == nil {
		spec = &hub.RouteName{}
	}
	res := strings.ReplaceAll(parts[0], "-", "_")
	res = strings.TrimSuffix(res, ".json")
	switch {
	case spec.Action != "":
		return spec.Action, spec.Type, ""
	case spec.Single:
		return verb(method, false) + "_" + res, spec.Type, ""
	case res == "other" || res == "…":
		return verb(method, false) + "_" + res, "", ""
	}
	sing := spec.Singular
	if sing == "" {
		sing = singular(res)
	}
	resType = sing
	if spec.Type != "" {
		resType = spec.Type
	}
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
		v := verb(method, true)
		if method == http.MethodDelete && spec.Delete != "" {
			v = spec.Delete
		}
		action = v + "_" + sing
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
