package hubbatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
)

// batchBody is the body of POST …/batch (docs/batch.md).
type batchBody struct {
	Operations []operation `json:"operations"`
	Atomic     bool        `json:"atomic"`
	Parallel   bool        `json:"parallel"`
}

// operation is one entry of operations. Path is relative to the batch's
// version prefix (/widgets under /api/v1/batch is /api/v1/widgets) and
// may hold a query string and references to earlier results ({$0.body.id}).
type operation struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Body    json.RawMessage   `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`

	// refs are the indexes of the earlier operations this one refers to
	// (in its path, headers or body), sorted, without duplicates.
	refs []int
}

// fieldError names what is wrong with one member of the body.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// errTooMany is the refusal of a batch over max_operations.
type errTooMany struct{ n, limit int }

func (e *errTooMany) Error() string {
	return fmt.Sprintf("a batch holds at most %d operations, this one has %d", e.limit, e.n)
}

// errInvalid is a body that is not a valid batch.
type errInvalid struct {
	detail string
	fields []fieldError
}

func (e *errInvalid) Error() string { return e.detail }

// methods an operation may use.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
}

// parseBatch reads and validates a batch body: strict JSON (one object, no
// unknown member, nothing after it), at most limit operations,
// paths that stay under the version prefix, no nested batch, headers only
// from allowed, references only to earlier operations.
func parseBatch(body []byte, limit int, allowed map[string]bool) (*batchBody, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b batchBody
	if err := dec.Decode(&b); err != nil {
		return nil, &errInvalid{detail: "the body is not a batch: " + jsonError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &errInvalid{detail: "the body is not a batch: data after the JSON object"}
	}
	if b.Operations == nil {
		return nil, &errInvalid{detail: "the body has no operations", fields: []fieldError{{"operations", "required: a list of 1 to " + fmt.Sprint(limit) + " operations"}}}
	}
	if len(b.Operations) > limit {
		return nil, &errTooMany{n: len(b.Operations), limit: limit}
	}
	if len(b.Operations) == 0 {
		return nil, &errInvalid{detail: "the batch is empty", fields: []fieldError{{"operations", "at least one operation"}}}
	}
	var errs []fieldError
	for i := range b.Operations {
		errs = append(errs, b.Operations[i].validate(i, allowed)...)
	}
	if len(errs) > 0 {
		return nil, &errInvalid{detail: "some operations are invalid", fields: errs}
	}
	return &b, nil
}

// jsonError words a decoding error without echoing the client's bytes.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown member " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}

// validate checks operation i and records its references.
func (op *operation) validate(i int, allowed map[string]bool) []fieldError {
	var errs []fieldError
	at := func(member, msg string) {
		errs = append(errs, fieldError{fmt.Sprintf("operations[%d].%s", i, member), msg})
	}
	op.Method = strings.ToUpper(op.Method)
	if !methods[op.Method] {
		at("method", "one of GET, HEAD, POST, PUT, PATCH, DELETE")
	}
	if msg := checkPath(op.Path); msg != "" {
		at("path", msg)
	}
	if len(op.Body) > 0 && string(op.Body) != "null" && (op.Method == http.MethodGet || op.Method == http.MethodHead || op.Method == http.MethodDelete) {
		at("body", op.Method+" takes no body")
	}
	for name, v := range op.Headers {
		if !allowed[textproto.CanonicalMIMEHeaderKey(name)] {
			at("headers", fmt.Sprintf("header %q is not allowed in an operation (allowed: %s)", name, allowedList(allowed)))
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			at("headers", fmt.Sprintf("header %q holds a control character", name))
		}
	}
	seen := map[int]bool{}
	check := func(member, s string) {
		idx, err := refIndexes(s)
		if err != nil {
			at(member, err.Error())
			return
		}
		for _, n := range idx {
			if n >= i {
				at(member, fmt.Sprintf("$%d refers to an operation that does not come before this one", n))
				continue
			}
			seen[n] = true
		}
	}
	check("path", op.Path)
	for name, v := range op.Headers {
		check("headers."+name, v)
	}
	if len(op.Body) > 0 {
		check("body", string(op.Body))
	}
	for n := range seen {
		op.refs = append(op.refs, n)
	}
	sortInts(op.refs)
	return errs
}

// checkPath refuses paths that could leave the version prefix or reach the
// batch endpoint itself. References are checked again once substituted
// (target).
func checkPath(p string) string {
	switch {
	case p == "":
		return "required"
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		return "a path relative to the version prefix, starting with / (such as /widgets/42)"
	case len(p) > 2048:
		return "at most 2048 bytes"
	}
	// References stand for one escaped value each: checked as a plain
	// segment here (a pointer's # is no fragment), and again once resolved.
	if msg := cleanPath(refPattern.ReplaceAllString(p, "ref")); msg != "" {
		return msg
	}
	return ""
}

// cleanPath checks a path (with an optional query) once references are
// resolved: canonical, no fragment, not the batch endpoint.
func cleanPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Fragment != "" || u.User != nil {
		return "not a relative path"
	}
	if strings.ContainsAny(u.Path, "\\\x00") || (u.Path != "/" && path.Clean(u.Path) != u.Path) || strings.Contains(u.Path, "/../") {
		return "not a canonical path (no empty, . or .. segments)"
	}
	if u.Path == "/batch" || strings.HasPrefix(u.Path, "/batch/") {
		return "nested batches are refused"
	}
	return ""
}

// allowedList lists the allowed headers, sorted, for messages.
func allowedList(allowed map[string]bool) string {
	names := make([]string, 0, len(allowed))
	for n := range allowed {
		names = append(names, n)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}
