package jsonx

import (
	"fmt"
	"sort"
	"strings"
)

// Limits of a ?fields= selection (issue 4): at most MaxFields names, each
// at most MaxLevels segments deep.
const (
	MaxFields = 50
	MaxLevels = 5
)

// Node is a selection tree: the selected members of an object, each with
// the selection below it. A nil *Node selects the whole value. Nodes are
// read-only once built and may be shared between requests.
type Node struct {
	// Children maps a member name to its selection (nil: the whole value).
	// It is never nil in a non-nil Node.
	Children map[string]*Node
}

// Wildcard is the segment selecting every allowed member ("fields=*").
const Wildcard = "*"

// SyntaxError is a malformed ?fields= value.
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return "invalid fields parameter: " + e.Msg }

// UnknownError lists the requested names that are not allowed.
type UnknownError struct{ Names []string }

func (e *UnknownError) Error() string {
	return "unknown or forbidden fields: " + strings.Join(e.Names, ", ")
}

// ParseFields parses a comma-separated list of dotted names: letters,
// digits and underscores, or "*" as a whole segment. Several names of one
// path merge; a name selecting a whole member wins over its sub-names.
func ParseFields(s string, maxFields, maxLevels int) (*Node, error) {
	if s == "" {
		return nil, &SyntaxError{"empty field list"}
	}
	root := &Node{Children: map[string]*Node{}}
	whole := map[string]bool{} // dotted paths selected whole
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		n++
		if n > maxFields {
			return nil, &SyntaxError{fmt.Sprintf("at most %d fields", maxFields)}
		}
		if part == "" {
			return nil, &SyntaxError{"empty field name"}
		}
		segs := strings.Split(part, ".")
		if len(segs) > maxLevels {
			return nil, &SyntaxError{fmt.Sprintf("%q is nested deeper than %d levels", part, maxLevels)}
		}
		for i, seg := range segs {
			if seg == Wildcard && i == len(segs)-1 {
				continue
			}
			if !fieldSegment(seg) {
				return nil, &SyntaxError{fmt.Sprintf("%q: names are letters, digits and underscores separated by dots", clip(part))}
			}
		}
		addPath(root, segs, whole)
	}
	return root, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func fieldSegment(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// addPath adds one dotted name to the tree.
func addPath(root *Node, segs []string, whole map[string]bool) {
	n := root
	for i, seg := range segs {
		prefix := strings.Join(segs[:i+1], ".")
		if whole[prefix] {
			return // already selected whole
		}
		if i == len(segs)-1 {
			n.Children[seg] = nil
			whole[prefix] = true
			return
		}
		child, ok := n.Children[seg]
		if !ok || child == nil {
			child = &Node{Children: map[string]*Node{}}
			n.Children[seg] = child
		}
		n = child
	}
}

// Whitelist builds a tree from allowed dotted names (an allowed name allows
// everything below it).
func Whitelist(names []string) (*Node, error) {
	root := &Node{Children: map[string]*Node{}}
	whole := map[string]bool{}
	for _, name := range names {
		segs := strings.Split(name, ".")
		for _, s := range segs {
			if !fieldSegment(s) {
				return nil, fmt.Errorf("whitelist name %q: letters, digits and underscores separated by dots", name)
			}
		}
		addPath(root, segs, whole)
	}
	return root, nil
}

// Names lists the dotted names of a tree, sorted.
func (n *Node) Names() []string {
	out := []string{} // never nil: a problem's allowed_fields is a list, even empty
	var walk func(n *Node, prefix string)
	walk = func(n *Node, prefix string) {
		for name, c := range n.Children {
			if c == nil {
				out = append(out, prefix+name)
			} else {
				walk(c, prefix+name+".")
			}
		}
	}
	if n != nil {
		walk(n, "")
	}
	sort.Strings(out)
	return out
}

// Rename returns a copy of the tree with every name mapped by f
// ("*" is kept).
func (n *Node) Rename(f func(string) string) *Node {
	if n == nil {
		return nil
	}
	out := &Node{Children: make(map[string]*Node, len(n.Children))}
	for name, c := range n.Children {
		if name != Wildcard {
			name = f(name)
		}
		out.Children[name] = c.Rename(f)
	}
	return out
}

// Resolve intersects the requested selection with the whitelist: a name
// the whitelist does not allow is an *UnknownError listing every such
// name; a member selected whole is narrowed to what the whitelist allows
// below it; "*" selects everything the whitelist allows.
func Resolve(req, allowed *Node) (*Node, error) {
	var bad []string
	out := resolve(req, allowed, "", &bad)
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, &UnknownError{Names: bad}
	}
	return out, nil
}

func resolve(req, allowed *Node, prefix string, bad *[]string) *Node {
	if allowed == nil {
		return req // everything below is allowed
	}
	if req == nil {
		return allowed
	}
	if _, ok := req.Children[Wildcard]; ok {
		out := &Node{Children: make(map[string]*Node, len(allowed.Children))}
		for k, v := range allowed.Children {
			out.Children[k] = v
		}
		// Deeper selections next to * narrow nothing: * already takes all.
		for k := range req.Children {
			if _, ok := allowed.Children[k]; !ok && k != Wildcard {
				*bad = append(*bad, prefix+k)
			}
		}
		return out
	}
	out := &Node{Children: make(map[string]*Node, len(req.Children))}
	for k, sub := range req.Children {
		a, ok := allowed.Children[k]
		if !ok {
			*bad = append(*bad, prefix+k)
			continue
		}
		out.Children[k] = resolve(sub, a, prefix+k+".", bad)
	}
	return out
}
