package domain

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// record is one stored row of a resource.
type record struct {
	res       *resource
	id        int64
	vals      values
	createdAt int64 // Unix microseconds
	updatedAt int64
	version   int64
	// extra members appended after version (planning joins).
	extra []member
}

// member is a named JSON value.
type member struct {
	name  string
	value any
}

// etag is the strong entity tag of the row's current version.
func (rec *record) etag() string { return `"v` + strconv.FormatInt(rec.version, 10) + `"` }

// MarshalJSON writes the members in declaration order (id first, then the
// fields, then timestamps and version), which a map would not keep.
func (rec *record) MarshalJSON() ([]byte, error) { return rec.appendJSON(nil) }

// appendJSON appends the record's JSON object to b, in one pass and
// without reflection for the scalar values rows hold (encode.go).
func (rec *record) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, rec.id, 10)
	var err error
	for i := range rec.res.fields {
		f := &rec.res.fields[i]
		b = append(b, f.key...)
		if b, err = appendAny(b, rec.vals[f.name]); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, rec.createdAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, rec.updatedAt)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, rec.version, 10)
	for _, m := range rec.extra {
		b = append(b, ',')
		b = httpx.AppendString(b, m.name)
		b = append(b, ':')
		if b, err = appendAny(b, m.value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendAny appends v as JSON: scalars directly, anything else through
// encoding/json.
func appendAny(b []byte, v any) ([]byte, error) {
	if out, ok := httpx.AppendValue(b, v); ok {
		return out, nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// appendTime appends stored microseconds as a JSON RFC 3339 UTC string.
func appendTime(b []byte, us int64) []byte {
	b = append(b, '"')
	b = db.FromMicros(us).AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// columns is the SELECT list of a resource, in record order; prefix
// qualifies each column ("a." in joins).
func (r *resource) columns(prefix string) string {
	names := make([]string, 0, len(r.fields)+4)
	names = append(names, prefix+"id")
	for _, f := range r.fields {
		names = append(names, prefix+f.name)
	}
	names = append(names, prefix+"created_at", prefix+"updated_at", prefix+"version")
	return strings.Join(names, ", ")
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scan reads a row selected with columns(); more receives extra columns
// selected after them.
func (r *resource) scan(s scanner, more ...any) (*record, error) {
	rec := &record{res: r, vals: make(values, len(r.fields))}
	dest := make([]any, 0, len(r.fields)+4+len(more))
	dest = append(dest, &rec.id)
	holders := make([]any, len(r.fields))
	for i, f := range r.fields {
		switch f.kind {
		case kInt, kRef:
			holders[i] = new(sql.NullInt64)
		case kFloat:
			holders[i] = new(sql.NullFloat64)
		case kBool:
			holders[i] = new(sql.NullBool)
		default:
			holders[i] = new(sql.NullString)
		}
		dest = append(dest, holders[i])
	}
	dest = append(dest, &rec.createdAt, &rec.updatedAt, &rec.version)
	dest = append(dest, more...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	for i, f := range r.fields {
		var v any
		switch h := holders[i].(type) {
		case *sql.NullInt64:
			if h.Valid {
				v = h.Int64
			}
		case *sql.NullFloat64:
			if h.Valid {
				v = h.Float64
			}
		case *sql.NullBool:
			if h.Valid {
				v = h.Bool
			}
		case *sql.NullString:
			if h.Valid {
				v = h.String
			}
		}
		rec.vals[f.name] = v
	}
	return rec, nil
}
