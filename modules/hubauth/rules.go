package hubauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/hubchantier/hubgate/internal/pathpattern"
)

// Rule is one access rule, matched by method and path pattern in the order
// given; the first match decides.
type Rule struct {
	// Methods the rule applies to (upper case); empty or "*" means all.
	Methods []string `json:"methods,omitempty"`
	// Path is a pattern: literal segments, {name} for exactly one segment,
	// and a trailing * for any rest (including nothing).
	Path string `json:"path"`
	// Public lets the request through without credentials; it is forwarded
	// with an anonymous assertion.
	Public bool `json:"public,omitempty"`
	// Scopes lists the scopes of which the caller needs at least one; empty
	// (and not Public) means any authenticated caller.
	Scopes []string `json:"scopes,omitempty"`

	pattern pathpattern.Pattern
}

func (r *Rule) compile() error {
	p, err := pathpattern.Compile(r.Path)
	if err != nil {
		return err
	}
	r.pattern = p
	for i, m := range r.Methods {
		m = strings.ToUpper(m)
		if m != "*" && !validMethod(m) {
			return fmt.Errorf("invalid method %q", m)
		}
		r.Methods[i] = m
	}
	for _, s := range r.Scopes {
		if !validScope(s) {
			return fmt.Errorf("invalid scope %q", s)
		}
	}
	return nil
}

func (r *Rule) matches(method, path string) bool {
	if len(r.Methods) > 0 {
		ok := false
		for _, m := range r.Methods {
			if m == "*" || m == method || (m == http.MethodGet && method == http.MethodHead) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return r.pattern.Match(path)
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

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
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
