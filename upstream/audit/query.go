package audit

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/page"
)

// Query filters GET /api/v1/admin/audit-logs. Zero values do not filter.
type Query struct {
	UserID string
	// APIKeyID is the id of the API key the request was made with.
	APIKeyID     string
	ResourceType string
	ResourceID   string
	Action       string
	RequestID    string
	// ClientRequestID is the X-Request-Id a client sent (not unique).
	ClientRequestID string
	// BatchRequestID lists the operations of one batch (the batch call's
	// request_id).
	BatchRequestID string
	StatusCode     int
	From, To       time.Time // From inclusive, To exclusive
	Limit          int
	// Cursor is the opaque cursor of a previous page; "" for the first.
	Cursor string
}

// FieldError is a bad query parameter.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// filterParams are the accepted query parameters besides limit and cursor.
var filterParams = map[string]bool{
	"user_id": true, "api_key_id": true, "resource_type": true, "resource_id": true, "action": true,
	"request_id": true, "client_request_id": true, "batch_request_id": true, "status_code": true, "from": true, "to": true,
}

// ParseQuery reads the query string; unknown parameters are refused so a
// misspelt filter does not silently return everything.
func ParseQuery(v url.Values) (Query, []FieldError) {
	var q Query
	var errs []FieldError
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "limit" || k == "cursor" {
			continue
		}
		if !filterParams[k] {
			errs = append(errs, FieldError{k, "unknown query parameter; filters: user_id, api_key_id, resource_type, resource_id, action, request_id, client_request_id, batch_request_id, status_code, from, to"})
			continue
		}
		if len(v[k]) != 1 || len(v.Get(k)) > 200 {
			errs = append(errs, FieldError{k, k + " must be given once, at most 200 characters"})
			continue
		}
		val := v.Get(k)
		switch k {
		case "user_id":
			q.UserID = val
		case "api_key_id":
			q.APIKeyID = val
		case "resource_type":
			q.ResourceType = val
		case "resource_id":
			q.ResourceID = val
		case "action":
			q.Action = val
		case "request_id":
			q.RequestID = val
		case "client_request_id":
			q.ClientRequestID = val
		case "batch_request_id":
			q.BatchRequestID = val
		case "status_code":
			n, err := strconv.Atoi(val)
			if err != nil || n < 100 || n > 599 {
				errs = append(errs, FieldError{k, "status_code must be an HTTP status code (100–599)"})
			}
			q.StatusCode = n
		case "from", "to":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				errs = append(errs, FieldError{k, k + " must be an RFC 3339 time such as 2026-01-31T00:00:00Z"})
			}
			if k == "from" {
				q.From = t
			} else {
				q.To = t
			}
		}
	}
	var err error
	if q.Limit, err = page.ParseLimit(v); err != nil {
		errs = append(errs, FieldError{"limit", err.(*page.Error).Message})
	}
	if c := v["cursor"]; len(c) > 1 {
		errs = append(errs, FieldError{"cursor", "cursor must be given once"})
	} else if len(c) == 1 {
		q.Cursor = c[0]
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		errs = append(errs, FieldError{"to", "to must be after from"})
	}
	return q, errs
}

// scope binds cursors to the filters they were issued for.
func (q Query) scope() string {
	f := map[string]string{}
	add := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	add("user_id", q.UserID)
	add("api_key_id", q.APIKeyID)
	add("resource_type", q.ResourceType)
	add("resource_id", q.ResourceID)
	add("action", q.Action)
	add("request_id", q.RequestID)
	add("client_request_id", q.ClientRequestID)
	add("batch_request_id", q.BatchRequestID)
	if q.StatusCode != 0 {
		f["status_code"] = strconv.Itoa(q.StatusCode)
	}
	if !q.From.IsZero() {
		f["from"] = strconv.FormatInt(db.Micros(q.From), 10)
	}
	if !q.To.IsZero() {
		f["to"] = strconv.FormatInt(db.Micros(q.To), 10)
	}
	return page.Scope("audit_logs", f)
}

// List returns a page of records, newest first, walking the (ts, id) index
// (or the (user_id, ts, id), (api_key_id, ts, id) and (resource_type, resource_id, ts, id) ones
// when those filters are given) from the cursor position.
func (s *Store) List(ctx context.Context, q Query) ([]auditchain.Record, *page.Cursors, error) {
	scope := q.scope()
	pos := page.Position{Dir: page.Next}
	first := q.Cursor == ""
	if !first {
		var err error
		if pos, err = s.cursors.Decode(scope, q.Cursor); err != nil {
			return nil, nil, err
		}
	}
	var where []string
	var wargs []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			wargs = append(wargs, v)
		}
	}
	eq("user_id", q.UserID)
	eq("api_key_id", q.APIKeyID)
	eq("resource_type", q.ResourceType)
	eq("resource_id", q.ResourceID)
	eq("action", q.Action)
	eq("request_id", q.RequestID)
	eq("client_request_id", q.ClientRequestID)
	eq("batch_request_id", q.BatchRequestID)
	if q.StatusCode != 0 {
		where = append(where, "status_code = ?")
		wargs = append(wargs, q.StatusCode)
	}
	if !q.From.IsZero() {
		where = append(where, "ts >= ?")
		wargs = append(wargs, db.Micros(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "ts < ?")
		wargs = append(wargs, db.Micros(q.To))
	}
	// Newest first: Next walks towards older rows.
	order := "ts DESC, id DESC"
	if !first {
		if pos.Dir == page.Next {
			where = append(where, "(ts, id) < (?, ?)")
		} else {
			where = append(where, "(ts, id) > (?, ?)")
			order = "ts, id"
		}
		wargs = append(wargs, pos.CreatedAt, pos.ID)
	}
	sqlq := `SELECT ` + columns + `, id FROM audit_logs`
	if len(where) > 0 {
		sqlq += ` WHERE ` + strings.Join(where, " AND ")
	}
	sqlq += ` ORDER BY ` + order + ` LIMIT ?`
	rows, err := s.db.Query(ctx, sqlq, append(wargs, q.Limit+1)...)
	if err != nil {
		return nil, nil, fmt.Errorf("list audit logs: %w", err)
	}
	defer rows.Close()
	recs := []auditchain.Record{}
	var ids []int64
	for rows.Next() {
		var id int64
		r, err := scanRecord(rows, &id)
		if err != nil {
			return nil, nil, fmt.Errorf("scan audit log: %w", err)
		}
		recs, ids = append(recs, r), append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	more := len(recs) > q.Limit
	if more {
		recs, ids = recs[:q.Limit], ids[:q.Limit]
	}
	if pos.Dir == page.Prev {
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
			ids[i], ids[j] = ids[j], ids[i]
		}
	}
	pg := &page.Cursors{Limit: q.Limit}
	hasNext := (pos.Dir == page.Next && more) || (pos.Dir == page.Prev && !first)
	hasPrev := (pos.Dir == page.Prev && more) || (pos.Dir == page.Next && !first)
	if n := len(recs); n > 0 {
		if hasNext {
			c := s.cursors.Encode(scope, page.Position{Dir: page.Next, CreatedAt: db.Micros(recs[n-1].Timestamp), ID: ids[n-1]})
			pg.NextCursor = &c
		}
		if hasPrev {
			c := s.cursors.Encode(scope, page.Position{Dir: page.Prev, CreatedAt: db.Micros(recs[0].Timestamp), ID: ids[0]})
			pg.PrevCursor = &c
		}
	}
	pg.HasMore = pg.NextCursor != nil
	return recs, pg, nil
}
