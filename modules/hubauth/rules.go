package hubauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Rule is one access rule, matched by method and path pattern in the order
// given; the first match decides.
type Rule struct {
	// Route is the rule's methods and path pattern (hub.Route: methods in
	// any case, empty or "*" for all, GET also matches HEAD; the path
	// /api/v1/widgets/{id}, /oauth/*), in JSON as "methods" and "path".
	hub.Route
	// Public lets the request through without credentials; it is forwarded
	// with an anonymous assertion.
	Public bool `json:"public,omitempty"`
	// Scopes lists the scopes of which the caller needs at least one; empty
	// (and not Public) means any authenticated caller.
	Scopes []string `json:"scopes,omitempty"`
}

func (r *Rule) compile() error {
	if err := r.Route.Compile(); err != nil {
		return err
	}
	return r.checkScopes()
}

// checkScopes refuses a scope that is not a valid scope name.
func (r *Rule) checkScopes() error {
	for _, s := range r.Scopes {
		if !validScope(s) {
			return fmt.Errorf("invalid scope %q", s)
		}
	}
	return nil
}

// derivedScopes computes the scopes a request under the resource prefix
// needs: GET/HEAD need read or <resource>:read, other methods write or
// <resource>:write; <resource>:* covers both. /admin/* needs admin.
func derivedScopes(prefix, method, path string) ([]string, bool) {
	if prefix == "" || !strings.HasPrefix(path, prefix) {
		return nil, false
	}
	resource, _, _ := strings.Cut(strings.TrimPrefix(path, prefix), "/")
	if resource == "" {
		return nil, false
	}
	if resource == "admin" {
		return []string{"admin"}, true
	}
	if method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions {
		return []string{"read", resource + ":read", resource + ":*"}, true
	}
	return []string{"write", resource + ":write", resource + ":*"}, true
}

// scopePair is the scope a + b.
type scopePair struct{ a, b string }

// derivedNeed is derivedScopes as pairs to concatenate (an empty a ends
// the list), so that checking them allocates nothing.
func derivedNeed(prefix, method, path string) ([3]scopePair, bool) {
	if prefix == "" || !strings.HasPrefix(path, prefix) {
		return [3]scopePair{}, false
	}
	resource, _, _ := strings.Cut(strings.TrimPrefix(path, prefix), "/")
	if resource == "" {
		return [3]scopePair{}, false
	}
	if resource == "admin" {
		return [3]scopePair{{a: "admin"}}, true
	}
	if method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions {
		return [3]scopePair{{a: "read"}, {resource, ":read"}, {resource, ":*"}}, true
	}
	return [3]scopePair{{a: "write"}, {resource, ":write"}, {resource, ":*"}}, true
}

func validScope(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ':' || c == '*' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
