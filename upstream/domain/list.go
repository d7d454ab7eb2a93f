package domain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/httpx"
	"github.com/hubchantier/hubgate/upstream/page"
)

// ignoredParams are accepted on lists and ignored: the order is fixed
// (created_at, id), and ?fields= belongs to the gateway (hub_fields), which
// may pass it through.
var ignoredParams = map[string]bool{"sort": true, "fields": true}

// listQuery is a parsed list request.
type listQuery struct {
	where  []string // "col = ?" terms
	args   []any
	scope  string // resource and filters, bound into cursors
	limit  int
	page   int
	cursor *string // nil: offset mode; "": first cursor page
	total  page.TotalMode
	// tooDeep is set for an offset page beyond page.MaxOffsetRows.
	tooDeep error
}

// parseList reads the query string of a list of res: filters on its
// filterable fields, page/limit or cursor/limit. Unknown parameters are
// refused so that a misspelt filter does not silently return everything.
// Filter columns are qualified with prefix ("a." in joins); extra names
// parameters the caller reads itself.
func (s *Service) parseList(res *resource, q url.Values, prefix string, extra map[string]bool) (*listQuery, []fieldError) {
	lq := &listQuery{}
	var errs []fieldError
	filters := map[string]string{}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic where clause and error order
	for _, name := range names {
		vs := q[name]
		switch {
		case name == "page" || name == "limit" || name == "total" || ignoredParams[name] || extra[name]:
			continue
		case name == "cursor":
			if len(vs) != 1 {
				errs = append(errs, fieldError{name, "cursor must be given once"})
				continue
			}
			lq.cursor = &vs[0]
			continue
		}
		f := res.fieldByName(name)
		if f == nil || !f.filter {
			errs = append(errs, fieldError{name, "unknown query parameter; filters: " + strings.Join(res.filterNames(), ", ")})
			continue
		}
		if len(vs) != 1 {
			errs = append(errs, fieldError{name, name + " must be given once"})
			continue
		}
		v, ferr := f.parseQuery(vs[0])
		if ferr != nil {
			errs = append(errs, *ferr)
			continue
		}
		lq.where = append(lq.where, prefix+f.name+" = ?")
		lq.args = append(lq.args, v)
		filters[f.name] = fmt.Sprint(v) // canonical: valide=1 and valide=true are one list
	}
	var err error
	if lq.limit, err = page.ParseLimit(q); err != nil {
		errs = append(errs, pageError(err))
	}
	if lq.page, err = page.ParsePage(q); err != nil {
		errs = append(errs, pageError(err))
	}
	if lq.total, err = page.ParseTotal(q); err != nil {
		errs = append(errs, pageError(err))
	}
	if lq.cursor != nil && q.Has("page") {
		errs = append(errs, fieldError{"page", "page cannot be combined with cursor"})
	}
	if lq.cursor != nil && q.Has("total") {
		errs = append(errs, fieldError{"total", "total applies to offset pages (page and limit), not to cursor pages"})
	}
	if lq.cursor == nil && len(errs) == 0 {
		lq.tooDeep = page.CheckDepth(lq.page, lq.limit)
	}
	lq.scope = page.Scope(res.name, filters)
	return lq, errs
}

func pageError(err error) fieldError {
	var pe *page.Error
	if errors.As(err, &pe) {
		return fieldError{pe.Field, pe.Message}
	}
	return fieldError{"", err.Error()}
}

// filterNames lists the filterable fields of r.
func (r *resource) filterNames() []string {
	var out []string
	for _, f := range r.fields {
		if f.filter {
			out = append(out, f.name)
		}
	}
	return out
}

// whereSQL joins the filter terms and more into a WHERE clause.
func whereSQL(terms ...string) string {
	if len(terms) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(terms, " AND ")
}

// handleList serves GET /api/v1/<resource>.
func (s *Service) handleList(w http.ResponseWriter, r *http.Request, res *resource) {
	lq, errs := s.parseList(res, r.URL.Query(), "", nil)
	if len(errs) > 0 {
		writeValidation(w, r, errs)
		return
	}
	if lq.tooDeep != nil {
		writeTooDeep(w, r, lq.tooDeep)
		return
	}
	// Only the rows within the caller's reach are listed (and counted).
	terms, args := listFilter(accessOf(r), res, "")
	lq.where, lq.args = append(lq.where, terms...), append(lq.args, args...)
	var (
		recs []*record
		pg   any
		err  error
	)
	if lq.cursor != nil {
		recs, pg, err = s.listCursor(r.Context(), res, lq)
	} else {
		recs, pg, err = s.listOffset(r.Context(), res, lq)
	}
	if errors.Is(err, page.ErrInvalidCursor) {
		httpx.Problem(w, r, problem.New(http.StatusBadRequest, "invalid-cursor", "Invalid cursor", page.ErrInvalidCursor.Message))
		return
	}
	if err != nil {
		s.writeError(w, r, res, err)
		return
	}
	writeList(w, recs, pg)
}

// writeTooDeep answers an offset page beyond page.MaxOffsetRows: 400
// page-too-deep, naming the page parameter and pointing to cursor mode.
func writeTooDeep(w http.ResponseWriter, r *http.Request, err error) {
	fe := pageError(err)
	httpx.Problem(w, r, problem.New(http.StatusBadRequest, page.TypePageTooDeep, "Page too deep", fe.Message).With("errors", []fieldError{fe}))
}

// listOffset returns page lq.page and its total (see countTotal). One row
// more than the limit is read to learn whether rows follow (has_more and
// next_cursor, which continues in cursor mode).
func (s *Service) listOffset(ctx context.Context, res *resource, lq *listQuery) ([]*record, any, error) {
	offset := int64(lq.page-1) * int64(lq.limit)
	q := `SELECT ` + res.cols + ` FROM ` + res.name + whereSQL(lq.where...) + ` ORDER BY created_at, id LIMIT ? OFFSET ?`
	args := append(append(make([]any, 0, len(lq.args)+2), lq.args...), lq.limit+1, offset)
	recs, err := s.query(ctx, res, q, args...)
	if err != nil {
		return nil, nil, err
	}
	more := len(recs) > lq.limit
	if more {
		recs = recs[:lq.limit]
	}
	total, exact, err := s.countTotal(ctx, lq.total, ` FROM `+res.name, lq.where, lq.args, offset, len(recs), more)
	if err != nil {
		return nil, nil, fmt.Errorf("count %s: %w", res.name, err)
	}
	pg := page.NewOffset(lq.page, lq.limit, total, exact)
	pg.HasMore = more
	if more {
		last := recs[len(recs)-1]
		c := s.cursors.Encode(lq.scope, page.Position{Dir: page.Next, CreatedAt: last.createdAt, ID: last.id})
		pg.NextCursor = &c
	}
	return recs, pg, nil
}

// listCursor walks the (created_at, id) index from the cursor position.
// It fetches one row more than the limit to learn whether the walk goes on;
// a Prev page is read backwards, then put back in ascending order.
func (s *Service) listCursor(ctx context.Context, res *resource, lq *listQuery) ([]*record, any, error) {
	pos := page.Position{Dir: page.Next}
	first := *lq.cursor == ""
	if !first {
		var err error
		if pos, err = s.cursors.Decode(lq.scope, *lq.cursor); err != nil {
			return nil, nil, err
		}
	}
	where := append([]string{}, lq.where...)
	args := append([]any{}, lq.args...)
	order := "created_at, id"
	if !first {
		// Row values let the planner use the index range directly.
		if pos.Dir == page.Next {
			where = append(where, "(created_at, id) > (?, ?)")
		} else {
			where = append(where, "(created_at, id) < (?, ?)")
			order = "created_at DESC, id DESC"
		}
		args = append(args, pos.CreatedAt, pos.ID)
	}
	q := `SELECT ` + res.cols + ` FROM ` + res.name + whereSQL(where...) + ` ORDER BY ` + order + ` LIMIT ?`
	recs, err := s.query(ctx, res, q, append(args, lq.limit+1)...)
	if err != nil {
		return nil, nil, err
	}
	more := len(recs) > lq.limit
	if more {
		recs = recs[:lq.limit]
	}
	pg := &page.Cursors{Limit: lq.limit}
	if pos.Dir == page.Prev {
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
		}
	}
	// Rows exist beyond the page in the walking direction when more is set,
	// and behind it whenever we came from a cursor.
	hasNext := (pos.Dir == page.Next && more) || (pos.Dir == page.Prev && !first)
	hasPrev := (pos.Dir == page.Prev && more) || (pos.Dir == page.Next && !first)
	if len(recs) > 0 {
		if hasNext {
			c := s.cursors.Encode(lq.scope, page.Position{Dir: page.Next, CreatedAt: recs[len(recs)-1].createdAt, ID: recs[len(recs)-1].id})
			pg.NextCursor = &c
		}
		if hasPrev {
			c := s.cursors.Encode(lq.scope, page.Position{Dir: page.Prev, CreatedAt: recs[0].createdAt, ID: recs[0].id})
			pg.PrevCursor = &c
		}
	}
	pg.HasMore = pg.NextCursor != nil
	return recs, pg, nil
}

// query runs a SELECT of res.columns() and scans every row.
func (s *Service) query(ctx context.Context, res *resource, q string, args ...any) ([]*record, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", res.name, err)
	}
	defer rows.Close()
	recs := make([]*record, 0, 21)
	rd := res.reader()
	for rows.Next() {
		rec, err := rd.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", res.name, err)
		}
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}
