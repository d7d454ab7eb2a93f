package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// ParseID reads a resource id from a path: a positive decimal integer in
// its one canonical form. "04", "+4", "4.0", " 4" and "0" name no row, so
// that one row has one URL: a write through an alias would otherwise leave
// the canonical URL's cached copies stale and be audited under another id.
func ParseID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// Reasons CheckJSON refuses a document.
var (
	errInvalidUTF8 = errors.New("the body is not valid UTF-8")
	errNUL         = errors.New("strings may not contain the NUL character (\\u0000)")
)

// duplicateError names a member given twice in one object.
type duplicateError struct{ name string }

func (e *duplicateError) Error() string {
	return fmt.Sprintf("member %q appears more than once in one object", e.name)
}

// CheckJSON refuses what encoding/json would silently accept: invalid UTF-8
// (replaced by U+FFFD when decoding), NUL characters in strings, and member
// names repeated in one object (Go keeps the last, other parsers the first:
// two readers of one body could disagree on what it says). It also reports
// syntax errors. It allocates, so it is for request bodies, not hot paths.
func CheckJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) > 0 {
			return io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return errNUL
		}
		if top != nil && top.keys != nil && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := tok.(string) // the decoder guarantees a key here
			if _, dup := top.keys[name]; dup {
				return &duplicateError{name}
			}
			top.keys[name] = struct{}{}
			top.wantKey = false
			continue
		}
		if top != nil && top.keys != nil {
			top.wantKey = true // this token starts the member's value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]struct{}{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// jsonKind names the JSON type that a Go type decodes from, for error texts
// that never show Go type names.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return "a JSON value"
	}
}
