package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DefaultRoutePrefix is the root of the API tree when none is configured.
const DefaultRoutePrefix = "/api"

// DefaultRouteDepth is the most segments a template keeps after the
// version or namespace.
const DefaultRouteDepth = 4

// Routes is the upstream's URL vocabulary: which path segments are names
// kept in route templates and which are ids, and how the audit names what
// a request did. It is the hub app's `routes` option; hubgate itself
// knows no upstream's resources. The default (no resource, no word, no
// exact path) labels every path <prefix>/<version>/other, <prefix>/other
// or other: bounded, and generic. Hub Chantier's vocabulary is
// configs/hub-routes.json.
type Routes struct {
	// Prefix is the root of the API tree: below it comes a version (v1 to
	// v9) or a namespace, then resources. Default "/api".
	Prefix string `json:"prefix,omitempty"`
	// Namespaces are segments right under Prefix that open an unversioned
	// subtree (such as /api/auth): below one, every segment is a configured
	// name or {id}. Default none.
	Namespaces []string `json:"namespaces,omitempty"`
	// Paths are exact paths kept as their own template (health checks,
	// OAuth endpoints), each with the audit action of requests on it.
	// Default none.
	Paths []*RoutePath `json:"paths,omitempty"`
	// Resources are the names that may come first under
	// <prefix>/<version>/; any other first segment gives
	// <prefix>/<version>/other. Default none.
	Resources []*RouteName `json:"resources,omitempty"`
	// Words are the other literal segments (actions, nested collections,
	// the names under a namespace): kept wherever they appear after the
	// first segment. Default none.
	Words []*RouteName `json:"words,omitempty"`
	// MaxDepth bounds the segments a template keeps after the version or
	// namespace; deeper ones become "…". Default 4.
	MaxDepth int `json:"max_depth,omitempty"`

	prefix     string
	prefixSegs []string
	namespaces map[string]bool
	paths      map[string]*RoutePath
	resources  map[string]*RouteName
	names      map[string]*RouteName // resources and words
}

// RoutePath is an exact path kept as its own route template.
type RoutePath struct {
	// Path is the exact request path, such as /healthz.
	Path string `json:"path"`
	// Action is the audit action of every request on Path (such as
	// health_check). Default: <verb>_other.
	Action string `json:"action,omitempty"`
	// Type is the audit resource type of those requests. Default none.
	Type string `json:"type,omitempty"`
}

// RouteName is a resource or word of the API and how the audit names
// requests whose first segment (after the version, namespace or group) it
// is. Without options a name is a collection: list_<name>,
// create_<singular>, read_<singular>, <word>_<singular> for
// <name>/{id}/<word>.
type RouteName struct {
	// Name is the path segment, such as "widgets" or "line-items".
	Name string `json:"name"`
	// Singular is the singular of a collection, with "-" as "_" (action
	// and resource type). Default: derived, …ies → …y, else …s → ….
	Singular string `json:"singular,omitempty"`
	// Single marks one thing rather than a collection (a report, the
	// caller's own profile): requests are <verb>_<name>, without an id.
	Single bool `json:"single,omitempty"`
	// Group marks a segment that only groups others (such as admin): the
	// audit names the resource that follows it.
	Group bool `json:"group,omitempty"`
	// Type is the audit resource type. Default: the singular of a
	// collection, none for a Single name.
	Type string `json:"type,omitempty"`
	// Action is the audit action of every request on the name (such as
	// login), replacing the derived one.
	Action string `json:"action,omitempty"`
	// Delete is the verb of a DELETE of one item (such as revoke).
	// Default delete.
	Delete string `json:"delete,omitempty"`
}

// LoadRoutes reads a Routes document (JSON) from a file.
func LoadRoutes(file string) (*Routes, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	rt := new(Routes)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rt); err != nil {
		return nil, fmt.Errorf("routes %s: %w", file, err)
	}
	return rt, nil
}

// Provision checks the vocabulary and builds its lookup tables.
func (rt *Routes) Provision() error {
	if rt.Prefix == "" {
		rt.Prefix = DefaultRoutePrefix
	}
	if !strings.HasPrefix(rt.Prefix, "/") {
		return fmt.Errorf("routes: prefix %q must start with /", rt.Prefix)
	}
	if rt.MaxDepth == 0 {
		rt.MaxDepth = DefaultRouteDepth
	}
	if rt.MaxDepth < 1 {
		return fmt.Errorf("routes: max_depth %d must be at least 1", rt.MaxDepth)
	}
	trimmed := strings.Trim(rt.Prefix, "/")
	rt.prefix, rt.prefixSegs = "", nil
	if trimmed != "" {
		rt.prefix, rt.prefixSegs = "/"+trimmed, strings.Split(trimmed, "/")
	}
	rt.namespaces = map[string]bool{}
	for _, ns := range rt.Namespaces {
		if err := checkSegment("namespace", ns); err != nil {
			return err
		}
		rt.namespaces[ns] = true
	}
	rt.paths = map[string]*RoutePath{}
	for _, p := range rt.Paths {
		if p == nil || !strings.HasPrefix(p.Path, "/") {
			return errors.New("routes: every path must start with /")
		}
		rt.paths[p.Path] = p
	}
	rt.resources, rt.names = map[string]*RouteName{}, map[string]*RouteName{}
	for _, list := range [][]*RouteName{rt.Resources, rt.Words} {
		for _, n := range list {
			if n == nil {
				return errors.New("routes: empty name")
			}
			if err := checkSegment("name", n.Name); err != nil {
				return err
			}
			if _, dup := rt.names[n.Name]; dup {
				return fmt.Errorf("routes: name %q listed twice", n.Name)
			}
			rt.names[n.Name] = n
		}
	}
	for _, n := range rt.Resources {
		rt.resources[n.Name] = n
	}
	return nil
}

// checkSegment refuses names that cannot be one path segment, or that
// would make a template ambiguous ({id}, other, …).
func checkSegment(what, s string) error {
	switch {
	case s == "" || strings.Contains(s, "/"):
		return fmt.Errorf("routes: %s %q must be one non-empty path segment", what, s)
	case s == "{id}" || s == "other" || s == "…" || isVersion(s):
		return fmt.Errorf("routes: %s %q is reserved", what, s)
	}
	return nil
}

// defaultRoutes is DefaultRoutes, provisioned once.
var defaultRoutes = func() *Routes {
	rt := new(Routes)
	_ = rt.Provision() // cannot fail: every field is a default
	return rt
}()

// DefaultRoutes is the generic vocabulary used when no hub app configures
// one (a config with hub_metrics alone): prefix /api, no names.
func DefaultRoutes() *Routes { return defaultRoutes }

// orDefault is rt, or DefaultRoutes for a nil or unprovisioned rt.
func (rt *Routes) orDefault() *Routes {
	if rt == nil || rt.names == nil {
		return DefaultRoutes()
	}
	return rt
}
