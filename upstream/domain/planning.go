package domain

import (
	"database/sql"
	"fmt"
	"net/http"

	"github.com/hubchantier/hubgate/upstream/page"
)

// handlePlanning serves GET /api/v1/planning?from=&to=&chantier_id=&user_id=:
// the affectations overlapping [from, to] (both optional, YYYY-MM-DD; an
// affectation without date_fin is open-ended), each with chantier_nom and
// user_nom, ordered by date_debut, in offset pages.
func (s *Service) handlePlanning(w http.ResponseWriter, r *http.Request, res *resource) {
	q := r.URL.Query()
	lq, errs := s.parseList(res, q, "a.", map[string]bool{"from": true, "to": true})
	if lq.cursor != nil {
		errs = append(errs, fieldError{"cursor", "the planning is paged with page and limit"})
	}
	dates := map[string]string{}
	for _, name := range []string{"from", "to"} {
		if !q.Has(name) {
			continue
		}
		f := field{name: name, kind: kDate}
		v := q.Get(name)
		if len(q[name]) != 1 {
			errs = append(errs, fieldError{name, name + " must be given once"})
		} else if err := f.validate(v); err != nil {
			errs = append(errs, *err)
		} else {
			dates[name] = v
		}
	}
	if dates["from"] != "" && dates["to"] != "" && dates["to"] < dates["from"] {
		errs = append(errs, fieldError{"to", "to must not be before from"})
	}
	if len(errs) > 0 {
		writeValidation(w, r, errs)
		return
	}
	if lq.tooDeep != nil {
		writeTooDeep(w, r, lq.tooDeep)
		return
	}
	where, args := lq.where, lq.args
	terms, targs := listFilter(accessOf(r), res, "a.")
	where, args = append(where, terms...), append(args, targs...)
	if from := dates["from"]; from != "" {
		where = append(where, "(a.date_fin IS NULL OR a.date_fin >= ?)")
		args = append(args, from)
	}
	if to := dates["to"]; to != "" {
		where = append(where, "a.date_debut <= ?")
		args = append(args, to)
	}
	const from = ` FROM affectations a JOIN chantiers c ON c.id = a.chantier_id JOIN users u ON u.id = a.user_id`
	ctx := r.Context()
	offset := int64(lq.page-1) * int64(lq.limit)
	rows, err := s.db.Query(ctx, `SELECT `+planningCols+`, c.nom, u.nom`+from+whereSQL(where...)+
		` ORDER BY a.date_debut, a.id LIMIT ? OFFSET ?`, append(args[:len(args):len(args)], lq.limit+1, offset)...)
	if err != nil {
		s.writeError(w, r, res, fmt.Errorf("planning: %w", err))
		return
	}
	defer rows.Close()
	recs := make([]*record, 0, lq.limit+1)
	var chantierNom, userNom sql.NullString
	rd := res.reader(&chantierNom, &userNom)
	for rows.Next() {
		rec, err := rd.scan(rows)
		if err != nil {
			s.writeError(w, r, res, fmt.Errorf("scan planning: %w", err))
			return
		}
		rec.extra = []member{{"chantier_nom", chantierNom.String}, {"user_nom", userNom.String}}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		s.writeError(w, r, res, fmt.Errorf("planning: %w", err))
		return
	}
	more := len(recs) > lq.limit
	if more {
		recs = recs[:lq.limit]
	}
	total, exact, err := s.countTotal(ctx, lq.total, from, where, args, offset, len(recs), more)
	if err != nil {
		s.writeError(w, r, res, fmt.Errorf("count planning: %w", err))
		return
	}
	// The planning is ordered by date_debut: no cursor continues it.
	pg := page.NewOffset(lq.page, lq.limit, total, exact)
	pg.HasMore = more
	writeList(w, recs, pg)
}

// planningCols is the SELECT list of affectations in the planning join.
var planningCols = affectations.columns("a.")
