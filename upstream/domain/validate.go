package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fieldError is one entry of the "errors" member of a validation problem.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// readOnlyMembers may appear in a request body (a client sending back what
// it read) and are ignored: the server owns them.
var readOnlyMembers = map[string]bool{"id": true, "created_at": true, "updated_at": true, "version": true}

// mode says how a body combines with what is stored.
type mode int

const (
	modeCreate  mode = iota // POST: absent fields take their default
	modeReplace             // PUT: same as POST, on an existing row
	modePatch               // PATCH: JSON merge patch (RFC 7396) on the stored row
)

// parseBody converts the members of a JSON object into typed values (nil
// for JSON null). Unknown members and wrong types are errors naming the
// member.
func (r *resource) parseBody(body map[string]json.RawMessage) (values, []fieldError) {
	in := make(values, len(body))
	var errs []fieldError
	for name, raw := range body {
		f := r.fieldByName(name)
		if f == nil {
			if !readOnlyMembers[name] {
				errs = append(errs, fieldError{name, "unknown field"})
			}
			continue
		}
		v, err := f.parseJSON(raw)
		if err != nil {
			errs = append(errs, *err)
			continue
		}
		in[name] = v
	}
	return in, errs
}

// merge computes the row to store from the body values in, the stored row
// (modePatch only) and the defaults, then runs every rule.
func (r *resource) merge(m mode, in, stored values) (values, []fieldError) {
	out := make(values, len(r.fields))
	var errs []fieldError
	for i := range r.fields {
		f := &r.fields[i]
		v, present := in[f.name]
		if m == modePatch && !present {
			out[f.name] = stored[f.name]
			continue
		}
		if v == nil {
			// Absent (POST/PUT) or null: the default, else NULL if allowed.
			switch {
			case f.def != nil:
				v = f.def
			case f.required && present && m == modePatch:
				errs = append(errs, fieldError{f.name, f.name + " is required and cannot be null"})
			case f.required:
				errs = append(errs, fieldError{f.name, f.name + " is required"})
			}
		} else if err := f.validate(v); err != nil {
			errs = append(errs, *err)
		}
		out[f.name] = v
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for _, c := range r.checks {
		errs = append(errs, c(out)...)
	}
	return out, errs
}

// parseJSON decodes one member according to the field's kind.
func (f *field) parseJSON(raw json.RawMessage) (any, *fieldError) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	bad := func(what string) (any, *fieldError) {
		return nil, &fieldError{f.name, f.name + " must be " + what}
	}
	switch f.kind {
	case kText, kEnum, kDate:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return bad("a string")
		}
		return s, nil
	case kInt, kRef:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			// 12.0 or 1e3 are integers in JSON's eyes; accept them when exact.
			fl, ferr := strconv.ParseFloat(string(raw), 64)
			if ferr != nil || raw[0] == '"' || fl != math.Trunc(fl) || math.Abs(fl) > 1<<53 {
				return bad("an integer")
			}
			n = int64(fl)
		}
		return n, nil
	case kFloat:
		if raw[0] == '"' {
			return bad("a number")
		}
		var x float64
		if json.Unmarshal(raw, &x) != nil {
			return bad("a number")
		}
		return x, nil
	case kBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return bad("a boolean")
		}
		return b, nil
	}
	return bad("valid")
}

// parseQuery decodes a ?name=value filter according to the field's kind.
func (f *field) parseQuery(s string) (any, *fieldError) {
	var v any
	switch f.kind {
	case kInt, kRef:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, &fieldError{f.name, f.name + " must be an integer"}
		}
		v = n
	case kFloat:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, &fieldError{f.name, f.name + " must be a number"}
		}
		v = x
	case kBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, &fieldError{f.name, f.name + " must be true or false"}
		}
		v = b
	default:
		v = s
	}
	if err := f.validate(v); err != nil {
		return nil, err
	}
	return v, nil
}

// validate checks a non-nil typed value against the field's rules.
func (f *field) validate(v any) *fieldError {
	fail := func(format string, args ...any) *fieldError {
		return &fieldError{f.name, fmt.Sprintf(format, args...)}
	}
	switch f.kind {
	case kText:
		s := v.(string)
		if f.required && strings.TrimSpace(s) == "" {
			return fail("%s must not be empty", f.name)
		}
		if !utf8.ValidString(s) {
			return fail("%s must be valid UTF-8", f.name)
		}
		if f.maxLen > 0 && utf8.RuneCountInString(s) > f.maxLen {
			return fail("%s must be at most %d characters", f.name, f.maxLen)
		}
	case kEnum:
		s := v.(string)
		for _, e := range f.enum {
			if s == e {
				return nil
			}
		}
		return fail("%s must be one of %s", f.name, strings.Join(f.enum, ", "))
	case kDate:
		s := v.(string)
		if t, err := time.Parse(time.DateOnly, s); err != nil || t.Format(time.DateOnly) != s {
			return fail("%s must be a date YYYY-MM-DD", f.name)
		}
	case kInt, kRef, kFloat:
		var x float64
		switch n := v.(type) {
		case int64:
			x = float64(n)
		case float64:
			x = n
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fail("%s must be a finite number", f.name)
		}
		if f.kind == kRef && x < 1 {
			return fail("%s must be a positive id", f.name)
		}
		if f.min != nil && (x < *f.min || (f.minOpen && x == *f.min)) {
			if f.minOpen {
				return fail("%s must be greater than %g", f.name, *f.min)
			}
			return fail("%s must be at least %g", f.name, *f.min)
		}
		if f.max != nil && x > *f.max {
			return fail("%s must be at most %g", f.name, *f.max)
		}
	}
	return nil
}
