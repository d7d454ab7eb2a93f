// Package page holds the reusable parts of list endpoints: limit and page
// parsing, the {"data", "pagination"} envelope, and opaque, tamper-proof
// keyset cursors.
//
// Two modes share one envelope. Offset mode (?page=&limit=) reports totals;
// cursor mode (?cursor=) walks an index on (created_at, id) so that a page
// deep in the list costs the same as the first one.
package page

import (
	"net/url"
	"strconv"
)

// DefaultLimit is the page size when ?limit= is absent.
const DefaultLimit = 20

// MaxLimit is the largest accepted ?limit=.
const MaxLimit = 100

// Error is a client mistake in a list query. Slug is the problem type slug
// ("validation" or "invalid-cursor"); Field names the query parameter.
type Error struct {
	Slug    string
	Field   string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Field + ": " + e.Message }

// ErrInvalidCursor is returned by Codec.Decode for any cursor it did not
// issue for the same scope.
var ErrInvalidCursor = &Error{Slug: "invalid-cursor", Field: "cursor", Message: "the cursor is invalid, expired or was issued for another list"}

// ParseLimit reads ?limit= (default DefaultLimit, 1–MaxLimit).
func ParseLimit(q url.Values) (int, error) {
	return parseInt(q, "limit", DefaultLimit, 1, MaxLimit)
}

// ParsePage reads ?page= (default 1, at least 1).
func ParsePage(q url.Values) (int, error) {
	// The upper bound only keeps page*limit far from int64 overflow.
	return parseInt(q, "page", 1, 1, 1<<40)
}

func parseInt(q url.Values, name string, def, lo, hi int) (int, error) {
	vs, ok := q[name]
	if !ok {
		return def, nil
	}
	if len(vs) != 1 {
		return 0, &Error{Slug: "validation", Field: name, Message: name + " must be given once"}
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < lo || n > hi {
		msg := name + " must be an integer of at least " + strconv.Itoa(lo)
		if name == "limit" {
			msg = "limit must be an integer between " + strconv.Itoa(lo) + " and " + strconv.Itoa(hi)
		}
		return 0, &Error{Slug: "validation", Field: name, Message: msg}
	}
	return n, nil
}

// List is the envelope of every list response.
type List[T any] struct {
	// Data holds the page's items, never null.
	Data []T `json:"data"`
	// Pagination is an *Offset or a *Cursors.
	Pagination any `json:"pagination"`
}

// Offset describes a page in offset mode.
type Offset struct {
	// Page is the 1-based page number served.
	Page int `json:"page"`
	// Limit is the page size.
	Limit int `json:"limit"`
	// Total counts the rows matching the filters, on every page.
	Total int64 `json:"total"`
	// TotalPages is ceil(Total / Limit); 0 when nothing matches.
	TotalPages int64 `json:"total_pages"`
}

// NewOffset fills TotalPages from total and limit.
func NewOffset(page, limit int, total int64) *Offset {
	return &Offset{Page: page, Limit: limit, Total: total, TotalPages: (total + int64(limit) - 1) / int64(limit)}
}

// Cursors describes a page in cursor mode. A nil cursor is rendered as null:
// there is nothing in that direction. HasMore reports whether rows follow the
// page (NextCursor is set).
type Cursors struct {
	// NextCursor fetches the rows after this page.
	NextCursor *string `json:"next_cursor"`
	// PrevCursor fetches the rows before this page.
	PrevCursor *string `json:"prev_cursor"`
	// HasMore is NextCursor != nil.
	HasMore bool `json:"has_more"`
	// Limit is the page size.
	Limit int `json:"limit"`
}
