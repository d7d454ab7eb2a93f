package domain

import (
	"database/sql"
	"fmt"
	"net/http"

	"github.com/hubchantier/hubgate/upstream/httpx"
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
	var total int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*)`+from+whereSQL(where...), args...).Scan(&total); err != nil {
		s.writeError(w, r, res, fmt.Errorf("count planning: %w", err))
		return
	}
	rows, err := s.db.Query(ctx, `SELECT `+res.columns("a.")+`, c.nom, u.nom`+from+whereSQL(where...)+
		` ORDER BY a.date_debut, a.id LIMIT ? OFFSET ?`, append(args, lq.limit, int64(lq.page-1)*int64(lq.limit))...)
	if err != nil {
		s.writeError(w, r, res, fmt.Errorf("planning: %w", err))
		return
	}
	defer rows.Close()
	recs := []*record{}
	for rows.Next() {
		var chantierNom, userNom sql.NullString
		rec, err := res.scan(rows, &chantierNom, &userNom)
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
	httpx.WriteJSON(w, http.StatusOK, page.List[*record]{Data: recs, Pagination: page.NewOffset(lq.page, lq.limit, total)})
}
