// Package pathpattern matches request paths against the patterns used in
// hubgate Caddyfiles: literal segments, {name} for exactly one non-empty
// segment, and a trailing * for any rest (including nothing).
//
//	/api/v1/chantiers          exactly that path (a trailing slash is ignored)
//	/api/v1/chantiers/{id}     one more segment
//	/oauth/*                   /oauth and everything below it
package pathpattern

import (
	"fmt"
	"strings"
)

// Pattern is a compiled path pattern.
type Pattern struct {
	src  string
	segs []string // "" for {param}
	rest bool     // trailing *
}

// Compile parses a pattern.
func Compile(s string) (Pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return Pattern{}, fmt.Errorf("path pattern %q must start with /", s)
	}
	p := Pattern{src: s}
	body := s
	if strings.HasSuffix(body, "*") {
		p.rest = true
		body = strings.TrimSuffix(body, "*")
	}
	trimmed := strings.Trim(body, "/")
	if trimmed == "" {
		return p, nil
	}
	for _, seg := range strings.Split(trimmed, "/") {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) > 2:
			p.segs = append(p.segs, "")
		case strings.ContainsAny(seg, "{}*") || seg == "":
			return Pattern{}, fmt.Errorf("path pattern %q: bad segment %q", s, seg)
		default:
			p.segs = append(p.segs, seg)
		}
	}
	return p, nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.src }

// Match reports whether path matches. It does not allocate.
func (p Pattern) Match(path string) bool {
	path = strings.Trim(path, "/")
	for _, want := range p.segs {
		if path == "" {
			return false
		}
		seg, rest, _ := strings.Cut(path, "/")
		if seg == "" || (want != "" && want != seg) {
			return false
		}
		path = rest
	}
	return p.rest || path == ""
}
