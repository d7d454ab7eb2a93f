// Package jsonx rewrites JSON documents in one streaming pass: it renames
// object member names (v1 snake_case ↔ v2 camelCase, see Mapping) and keeps
// only selected members (sparse fieldsets, see Node), without decoding the
// document into Go values. hub_fields and hub_version share it so that a
// response body is scanned once, whichever of them rewrites it.
//
// The scanner validates the structure it walks (an invalid document is an
// error and the caller passes the body through untouched); string contents
// and numbers are copied byte for byte.
package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxDepth bounds the nesting of documents the transformer accepts, so a
// hostile request body cannot exhaust the stack.
const MaxDepth = 128

// RenameFunc appends the new name of the object member key to dst. key is
// the member name as it appears between the quotes; it never holds escape
// sequences (keys with escapes are decoded first).
type RenameFunc func(dst, key []byte) []byte

// Options says what a transformation does. The zero value copies the
// document (validating it).
type Options struct {
	// Rename renames every object member name at every depth; nil keeps
	// names.
	Rename RenameFunc
	// Select keeps only the selected members (names before renaming); nil
	// keeps everything. A selection applies to each element of an array.
	Select *Node
	// Envelope applies Select to the elements of the top-level "data"
	// member only and keeps every other top-level member (the pagination
	// of a list envelope) whole.
	Envelope bool
}

// ErrSyntax reports a document the scanner could not walk.
var ErrSyntax = errors.New("jsonx: invalid JSON")

// Apply appends the transformed src to dst.
func Apply(dst, src []byte, o *Options) ([]byte, error) {
	t := transformer{src: src, dst: dst, rename: o.Rename}
	t.ws()
	var err error
	if o.Envelope && t.peek() == '{' {
		err = t.object(o.Select, true, 0)
	} else {
		err = t.value(o.Select, 0)
	}
	if err != nil {
		return dst, err
	}
	t.ws()
	if t.i != len(t.src) {
		return dst, t.fail("trailing data")
	}
	return t.dst, nil
}

type transformer struct {
	src    []byte
	i      int
	dst    []byte
	rename RenameFunc
}

func (t *transformer) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, t.i)
}

func (t *transformer) peek() byte {
	if t.i < len(t.src) {
		return t.src[t.i]
	}
	return 0
}

func (t *transformer) ws() {
	for t.i < len(t.src) {
		switch t.src[t.i] {
		case ' ', '\t', '\n', '\r':
			t.i++
		default:
			return
		}
	}
}

// value transforms one value under the selection sel (nil: everything).
func (t *transformer) value(sel *Node, depth int) error {
	if depth > MaxDepth {
		return t.fail("too deep")
	}
	switch t.peek() {
	case '{':
		if sel == nil && t.rename == nil {
			return t.copyValue(depth)
		}
		return t.object(sel, false, depth)
	case '[':
		if sel == nil && t.rename == nil {
			return t.copyValue(depth)
		}
		return t.array(sel, depth)
	default:
		// Scalars are copied whatever the selection below them says.
		return t.copyValue(depth)
	}
}

// copyValue copies one value verbatim.
func (t *transformer) copyValue(depth int) error {
	start := t.i
	if err := t.skip(depth); err != nil {
		return err
	}
	t.dst = append(t.dst, t.src[start:t.i]...)
	return nil
}

func (t *transformer) array(sel *Node, depth int) error {
	t.i++ // [
	t.dst = append(t.dst, '[')
	t.ws()
	if t.peek() == ']' {
		t.i++
		t.dst = append(t.dst, ']')
		return nil
	}
	for {
		t.ws()
		if err := t.value(sel, depth+1); err != nil {
			return err
		}
		t.ws()
		switch t.peek() {
		case ',':
			t.i++
			t.dst = append(t.dst, ',')
		case ']':
			t.i++
			t.dst = append(t.dst, ']')
			return nil
		default:
			return t.fail("expected , or ]")
		}
	}
}

// object transforms an object. In envelope mode sel applies to the "data"
// member and every other member is kept whole.
func (t *transformer) object(sel *Node, envelope bool, depth int) error {
	t.i++ // {
	t.dst = append(t.dst, '{')
	t.ws()
	if t.peek() == '}' {
		t.i++
		t.dst = append(t.dst, '}')
		return nil
	}
	first := true
	for {
		t.ws()
		if t.peek() != '"' {
			return t.fail("expected member name")
		}
		ks := t.i
		esc, err := t.skipString()
		if err != nil {
			return err
		}
		raw := t.src[ks+1 : t.i-1]
		key := raw
		if esc {
			var s string
			if json.Unmarshal(t.src[ks:t.i], &s) != nil {
				return t.fail("bad member name")
			}
			key = []byte(s)
		}
		t.ws()
		if t.peek() != ':' {
			return t.fail("expected :")
		}
		t.i++
		t.ws()

		child, keep := sel, true
		switch {
		case envelope:
			child = nil
			if string(key) == "data" {
				child = sel
			}
		case sel != nil && sel.Children != nil:
			child, keep = sel.Children[string(key)]
		default:
			child = nil
		}
		if !keep {
			if err := t.skip(depth + 1); err != nil {
				return err
			}
		} else {
			if !first {
				t.dst = append(t.dst, ',')
			}
			first = false
			t.writeKey(raw, key, esc)
			t.dst = append(t.dst, ':')
			if err := t.value(child, depth+1); err != nil {
				return err
			}
		}
		t.ws()
		switch t.peek() {
		case ',':
			t.i++
		case '}':
			t.i++
			t.dst = append(t.dst, '}')
			return nil
		default:
			return t.fail("expected , or }")
		}
	}
}

// writeKey writes a member name, renamed. Names with escapes (rare) are
// renamed decoded and encoded again.
func (t *transformer) writeKey(raw, key []byte, esc bool) {
	switch {
	case t.rename == nil:
		t.dst = append(t.dst, '"')
		t.dst = append(t.dst, raw...)
		t.dst = append(t.dst, '"')
	case !esc:
		t.dst = append(t.dst, '"')
		t.dst = t.rename(t.dst, key)
		t.dst = append(t.dst, '"')
	default:
		enc, _ := json.Marshal(string(t.rename(nil, key)))
		t.dst = append(t.dst, enc...)
	}
}

// skip moves past one value without writing it.
func (t *transformer) skip(depth int) error {
	if depth > MaxDepth {
		return t.fail("too deep")
	}
	switch c := t.peek(); {
	case c == '"':
		_, err := t.skipString()
		return err
	case c == '{' || c == '[':
		return t.skipContainer(depth)
	case c == 't':
		return t.literal("true")
	case c == 'f':
		return t.literal("false")
	case c == 'n':
		return t.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return t.number()
	default:
		return t.fail("unexpected character")
	}
}

func (t *transformer) skipContainer(depth int) error {
	closeBy := byte('}')
	if t.src[t.i] == '[' {
		closeBy = ']'
	}
	t.i++
	t.ws()
	if t.peek() == closeBy {
		t.i++
		return nil
	}
	for {
		t.ws()
		if closeBy == '}' {
			if t.peek() != '"' {
				return t.fail("expected member name")
			}
			if _, err := t.skipString(); err != nil {
				return err
			}
			t.ws()
			if t.peek() != ':' {
				return t.fail("expected :")
			}
			t.i++
			t.ws()
		}
		if err := t.skip(depth + 1); err != nil {
			return err
		}
		t.ws()
		switch t.peek() {
		case ',':
			t.i++
		case closeBy:
			t.i++
			return nil
		default:
			return t.fail("expected , or end of container")
		}
	}
}

// skipString moves past a string starting at t.i and reports whether it
// held escape sequences.
func (t *transformer) skipString() (bool, error) {
	esc := false
	for j := t.i + 1; j < len(t.src); j++ {
		switch c := t.src[j]; {
		case c == '"':
			t.i = j + 1
			return esc, nil
		case c == '\\':
			esc = true
			j++
		case c < 0x20:
			t.i = j
			return false, t.fail("control character in string")
		}
	}
	t.i = len(t.src)
	return false, t.fail("unterminated string")
}

func (t *transformer) literal(lit string) error {
	if len(t.src)-t.i < len(lit) || string(t.src[t.i:t.i+len(lit)]) != lit {
		return t.fail("bad literal")
	}
	t.i += len(lit)
	return nil
}

// number moves past a number (RFC 8259 §6 grammar).
func (t *transformer) number() error {
	s, i := t.src, t.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return t.fail("bad number")
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return t.fail("bad fraction")
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return t.fail("bad exponent")
		}
		i = j
	}
	t.i = i
	return nil
}

func digits(s []byte, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
