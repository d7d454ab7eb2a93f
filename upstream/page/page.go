// Package page holds the reusable parts of list endpoints: limit and page
// parsing, the {"data", "pagination"} envelope, and opaque, tamper-proof
// keyset cursors.
//
// Two modes share one envelope. Offset mode (?page=&limit=, the default)
// reports totals — exact up to MaxOffsetRows matching rows, estimated
// beyond unless ?total=exact — and reaches the first MaxOffsetRows rows;
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

// MaxOffsetRows bounds offset mode: a page is served only when
// page × limit ≤ MaxOffsetRows (page 500 at the default limit), since the
// database reads and skips every row before the page. It is also the
// largest total counted exactly by default (TotalAuto).
const MaxOffsetRows = 10000

// TypePageTooDeep is the problem type slug of an offset page beyond
// MaxOffsetRows (400).
const TypePageTooDeep = "page-too-deep"

// CheckDepth refuses an offset page that ends beyond MaxOffsetRows, with
// an *Error of slug TypePageTooDeep pointing to cursor mode.
func CheckDepth(page, limit int) error {
	if int64(page)*int64(limit) <= MaxOffsetRows {
		return nil
	}
	return &Error{Slug: TypePageTooDeep, Field: "page", Message: "offset pages reach the first " + strconv.Itoa(MaxOffsetRows) +
		" rows (page × limit ≤ " + strconv.Itoa(MaxOffsetRows) + ", so page ≤ " + strconv.Itoa(MaxOffsetRows/limit) +
		" at limit " + strconv.Itoa(limit) + "); walk deeper in cursor mode: ?cursor= (empty for the first page) or the next_cursor of an offset page"}
}

// TotalMode says how an offset page counts the rows matching its filters
// (?total=).
type TotalMode string

// Total modes.
const (
	// TotalAuto (the default): exact when at most MaxOffsetRows rows match
	// (a count that stops there), the database's estimate beyond.
	TotalAuto TotalMode = "auto"
	// TotalExact counts every matching row: exact, at a cost that grows
	// with the number of matching rows.
	TotalExact TotalMode = "exact"
	// TotalNone counts nothing: total and total_pages are null (has_more
	// still says whether rows follow).
	TotalNone TotalMode = "none"
)

// ParseTotal reads ?total= (auto, exact or none; default auto).
func ParseTotal(q url.Values) (TotalMode, error) {
	vs, ok := q["total"]
	if !ok {
		return TotalAuto, nil
	}
	if len(vs) == 1 {
		switch m := TotalMode(vs[0]); m {
		case TotalAuto, TotalExact, TotalNone:
			return m, nil
		}
	}
	return "", &Error{Slug: "validation", Field: "total", Message: "total must be given once, as auto, exact or none"}
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
	// Total counts the rows matching the filters, on every page; null
	// with ?total=none. TotalExact says whether it is exact or estimated.
	Total *int64 `json:"total"`
	// TotalPages is ceil(Total / Limit); 0 when nothing matches, null
	// when Total is.
	TotalPages *int64 `json:"total_pages"`
	// TotalExact is true when Total is an exact count, false when it is
	// the database's estimate (or absent).
	TotalExact bool `json:"total_exact"`
	// HasMore reports whether rows follow this page (always exact).
	HasMore bool `json:"has_more"`
	// NextCursor continues after this page in cursor mode (null when no
	// row follows): the way past MaxOffsetRows.
	NextCursor *string `json:"next_cursor"`
}

// NewOffset returns the pagination of an offset page; total is nil when
// not counted, exact says whether it is an exact count.
func NewOffset(page, limit int, total *int64, exact bool) *Offset {
	o := &Offset{Page: page, Limit: limit}
	if total != nil {
		t, pages := *total, (*total+int64(limit)-1)/int64(limit)
		o.Total, o.TotalPages, o.TotalExact = &t, &pages, exact
	}
	return o
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
