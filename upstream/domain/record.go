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
	return r.reader(more...).scan(s)
}

// rowReader scans rows of one resource, reusing its scan destinations
// from row to row (the values are copied out into each record).
type rowReader struct {
	res     *resource
	holders []any // one sql.Null* per field
	dest    []any // &id, holders…, &createdAt, &updatedAt, &version, more…
	id      int64
	created int64
	updated int64
	version int64
}

// reader returns a rowReader for rows selected with columns() and then
// the more columns.
func (r *resource) reader(more ...any) *rowReader {
	rd := &rowReader{res: r, holders: make([]any, len(r.fields))}
	rd.dest = make([]any, 0, len(r.fields)+4+len(more))
	rd.dest = append(rd.dest, &rd.id)
	for i, f := range r.fields {
		switch f.kind {
		case kInt, kRef:
			rd.holders[i] = new(sql.NullInt64)
		case kFloat:
			rd.holders[i] = new(sql.NullFloat64)
		case kBool:
			rd.holders[i] = new(sql.NullBool)
		default:
			rd.holders[i] = new(sql.NullString)
		}
		rd.dest = append(rd.dest, rd.holders[i])
	}
	rd.dest = append(rd.dest, &rd.created, &rd.updated, &rd.version)
	rd.dest = append(rd.dest, more...)
	return rd
}

// scan reads the current row into a new record.
func (rd *rowReader) scan(s scanner) (*record, error) {
	if err := s.Scan(rd.dest...); err != nil {
		return nil, err
	}
	r := rd.res
	rec := &record{res: r, id: rd.id, createdAt: rd.created, updatedAt: rd.updated, version: rd.version, vals: make(values, len(r.fields))}
	for i, f := range r.fields {
		var v any
		switch h := rd.holders[i].(type) {
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
