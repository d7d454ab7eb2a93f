package hubbatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A reference names a member of an earlier operation's result (docs/batch.md,
// "References"), in one of two forms:
//
//	{$0.body.id}          dotted: members, or array indexes, from the result
//	{$0#/body/data/0/id}  an RFC 6901 JSON Pointer into the result
//
// The result is {"status": …, "headers": {…}, "body": …}, as answered.
// The pointer form admits every member name (~1 is "/", ~0 is "~"); it may
// not hold braces, quotes, backslashes or white space, so a reference never
// spans a JSON string's boundary.
var refPattern = regexp.MustCompile(`\{\$([0-9]{1,3})(\.[A-Za-z0-9_\-.]+|#(?:/[^{}"\\\s]*)+)\}`)

// wholeRef is a JSON string holding one reference and nothing else.
var wholeRef = regexp.MustCompile(`"` + refPattern.String() + `"`)

// refIndexes returns the operation indexes s refers to. Text that starts
// like a reference but is not one is an error, so a typo does not reach
// the upstream as a literal.
func refIndexes(s string) ([]int, error) {
	var out []int
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	rest := refPattern.ReplaceAllString(s, "")
	if i := strings.Index(rest, "{$"); i >= 0 {
		return nil, errors.New("malformed reference: use {$<n>.body.<member>} or {$<n>#/body/<member>} (docs/batch.md)")
	}
	return out, nil
}

// errUnresolved is a reference to a member the earlier result lacks, or to
// a value that cannot stand in a path or header (an object, an array).
type errUnresolved struct{ ref, why string }

func (e *errUnresolved) Error() string { return e.ref + ": " + e.why }

// lookup resolves one reference against the results so far.
func lookup(ref string, docs []any) (any, error) {
	m := refPattern.FindStringSubmatch(ref)
	n, _ := strconv.Atoi(m[1])
	var segs []string
	if strings.HasPrefix(m[2], "#") {
		for _, s := range strings.Split(m[2][2:], "/") {
			segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
		}
	} else {
		segs = strings.Split(m[2][1:], ".")
	}
	v := docs[n]
	for _, s := range segs {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[s]
			if !ok {
				return nil, &errUnresolved{ref, fmt.Sprintf("no member %q", s)}
			}
			v = next
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(c) {
				return nil, &errUnresolved{ref, fmt.Sprintf("no element %q", s)}
			}
			v = c[i]
		default:
			return nil, &errUnresolved{ref, fmt.Sprintf("no member %q in a %T", s, v)}
		}
	}
	return v, nil
}

// scalar formats a resolved value for a path or a header.
func scalar(ref string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", &errUnresolved{ref, "not a string, number or boolean"}
}

// substitute replaces every reference of s with esc(scalar value).
func substitute(s string, docs []any, esc func(string) string) (string, error) {
	var firstErr error
	out := refPattern.ReplaceAllStringFunc(s, func(ref string) string {
		v, err := lookup(ref, docs)
		if err == nil {
			var str string
			if str, err = scalar(ref, v); err == nil {
				return esc(str)
			}
		}
		if firstErr == nil {
			firstErr = err
		}
		return ""
	})
	return out, firstErr
}

// resolvePath substitutes a path's references, escaped for the part of the
// URL they stand in (a value cannot add a segment or a query parameter).
func resolvePath(p string, docs []any) (string, error) {
	pathPart, query, hasQuery := strings.Cut(p, "?")
	pathPart, err := substitute(pathPart, docs, url.PathEscape)
	if err != nil {
		return "", err
	}
	if hasQuery {
		if query, err = substitute(query, docs, url.QueryEscape); err != nil {
			return "", err
		}
		return pathPart + "?" + query, nil
	}
	return pathPart, nil
}

// resolveBody substitutes a JSON body's references: a string that is a
// reference and nothing else takes the referred value with its JSON type
// ("{$0.body.id}" becomes 42), a reference inside a longer string its text.
func resolveBody(body []byte, docs []any) ([]byte, error) {
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	out := wholeRef.ReplaceAllFunc(body, func(q []byte) []byte {
		ref := string(q[1 : len(q)-1])
		v, err := lookup(ref, docs)
		if err != nil {
			fail(err)
			return []byte("null")
		}
		b, _ := json.Marshal(v)
		return b
	})
	out = refPattern.ReplaceAllFunc(out, func(ref []byte) []byte {
		v, err := lookup(string(ref), docs)
		if err == nil {
			var s string
			if s, err = scalar(string(ref), v); err == nil {
				b, _ := json.Marshal(s)
				return b[1 : len(b)-1]
			}
		}
		fail(err)
		return nil
	})
	return out, firstErr
}

func sortInts(a []int)       { sort.Ints(a) }
func sortStrings(a []string) { sort.Strings(a) }
