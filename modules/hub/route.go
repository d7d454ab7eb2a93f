package hub

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/hubchantier/hubgate/internal/pathpattern"
)

// Route is the "METHOD PATH" of every hub policy that applies to some
// requests only: the rules of hub_auth and hub_rate_limit, the sensitive
// and no_body_hash routes of hub_audit, the routes and invalidate rules of
// hub_cache. It is parsed by ParseRoute (Caddyfile tokens) or decoded from
// JSON and checked by Compile, and matched by Match; no module parses or
// matches methods and paths on its own.
//
// The rules, the same in every module:
//   - Methods are RFC 9110 methods (GET, HEAD, POST, PUT, PATCH, DELETE,
//     OPTIONS, CONNECT, TRACE), written in any case and kept in upper case:
//     "get,head" is GET,HEAD. Anything else is refused, so a typo in a rule
//     is an error at load time, not a rule that silently never matches.
//   - No method, or "*", means every method.
//   - GET also matches HEAD: a HEAD is a GET without a body (RFC 9110
//     §9.3.2), so what a rule says of GET it says of HEAD. HEAD alone does
//     not match GET.
//   - Path is an internal/pathpattern pattern: literal segments, {name}
//     for exactly one segment, a trailing * for any rest.
type Route struct {
	// Methods the route applies to, in upper case once compiled; empty, or
	// a lone "*", means every method. GET also matches HEAD.
	Methods []string `json:"methods,omitempty"`
	// Path is a pattern (internal/pathpattern): /api/v1/widgets/{id},
	// /oauth/*. Required.
	Path string `json:"path,omitempty"`

	pattern pathpattern.Pattern
	methods methodSet // 0: every method
}

// methodSet is a set of known methods, one bit each.
type methodSet uint16

// routeMethods are the methods a route may name (RFC 9110 §9 and PATCH);
// a method's bit in a methodSet is 1 << its index here.
var routeMethods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// methodBit is the bit of an upper-case method in a methodSet, 0 for a
// method a route may not name.
func methodBit(m string) methodSet {
	for i, known := range routeMethods {
		if m == known {
			return 1 << i
		}
	}
	return 0
}

// ParseRoute reads the two Caddyfile tokens of a route, "<methods|*>
// <path>", where <methods> is one method or a comma list (GET,HEAD; any
// case). It returns the route as configuration (Methods in upper case, nil
// for "*"), checked but without compiled state: Compile prepares it for
// Match when the module is provisioned from its JSON.
func ParseRoute(methods, path string) (Route, error) {
	r := Route{Path: path}
	if methods != "*" {
		r.Methods = strings.Split(methods, ",")
	}
	if err := r.Compile(); err != nil {
		return Route{}, err
	}
	return Route{Methods: r.Methods, Path: r.Path}, nil
}

// Compile checks the route, writes its methods in upper case and prepares
// Match. It must be called (in Provision) before Match.
func (r *Route) Compile() error {
	p, err := pathpattern.Compile(r.Path)
	if err != nil {
		return err
	}
	var set methodSet
	for i, m := range r.Methods {
		up := strings.ToUpper(m)
		if up == "*" {
			if len(r.Methods) > 1 {
				return fmt.Errorf("method * stands alone, got %q", strings.Join(r.Methods, ","))
			}
			continue
		}
		bit := methodBit(up)
		if bit == 0 {
			return fmt.Errorf("invalid method %q: want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT or TRACE (any case), or *", m)
		}
		r.Methods[i] = up
		set |= bit
	}
	if set&methodBit(http.MethodGet) != 0 {
		set |= methodBit(http.MethodHead) // HEAD is GET without a body
	}
	r.pattern, r.methods = p, set
	return nil
}

// Match reports whether a request with this method and path is on the
// route. It does not allocate.
func (r *Route) Match(method, path string) bool {
	if r.methods != 0 && r.methods&methodBit(method) == 0 {
		return false
	}
	return r.pattern.Match(path)
}

// MatchPath reports whether path matches the route's pattern, whatever
// the method: for the routes of hub_cache, which name paths only (it
// caches GET and invalidates on every write).
func (r *Route) MatchPath(path string) bool { return r.pattern.Match(path) }

// String returns the route as written in a Caddyfile: "GET,HEAD /x", "* /x".
func (r *Route) String() string {
	if len(r.Methods) == 0 {
		return "* " + r.Path
	}
	return strings.Join(r.Methods, ",") + " " + r.Path
}
