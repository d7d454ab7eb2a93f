package domain

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hubchantier/hubgate/upstream/httpx"
)

// Stats is the body of GET /api/v1/stats. Every enum value appears in the
// maps, with 0 when no row has it, so clients need no defaulting.
type Stats struct {
	// Chantiers counts chantiers, by statut, and sums their budgets.
	Chantiers struct {
		Total       int64            `json:"total"`
		ParStatut   map[string]int64 `json:"par_statut"`
		BudgetTotal float64          `json:"budget_total"`
	} `json:"chantiers"`
	// Pointages counts time records and sums their hours, by type.
	Pointages struct {
		Total         int64              `json:"total"`
		HeuresTotal   float64            `json:"heures_total"`
		HeuresParType map[string]float64 `json:"heures_par_type"`
	} `json:"pointages"`
	// Signalements counts reports; "ouverts" are those with statut ouvert
	// or en_cours (not yet resolu or ferme).
	Signalements struct {
		Total             int64            `json:"total"`
		Ouverts           int64            `json:"ouverts"`
		OuvertsParGravite map[string]int64 `json:"ouverts_par_gravite"`
	} `json:"signalements"`
	// Documents, Affectations and Users are plain counts.
	Documents    count `json:"documents"`
	Affectations count `json:"affectations"`
	Users        count `json:"users"`
}

type count struct {
	Total int64 `json:"total"`
}

// handleStats serves GET /api/v1/stats.
func (s *Service) handleStats(w http.ResponseWriter, r *http.Request, _ *resource) {
	st, err := s.stats(r.Context())
	if err != nil {
		s.writeError(w, r, chantiers, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, st)
}

// stats computes the aggregates, one grouped query per table.
func (s *Service) stats(ctx context.Context) (*Stats, error) {
	st := &Stats{}
	st.Chantiers.ParStatut = zeroCounts(statutsChantier)
	st.Pointages.HeuresParType = map[string]float64{}
	for _, t := range typesPointage {
		st.Pointages.HeuresParType[t] = 0
	}
	st.Signalements.OuvertsParGravite = zeroCounts(gravites)

	err := s.grouped(ctx, `SELECT statut, COUNT(*), COALESCE(SUM(budget), 0) FROM chantiers GROUP BY statut`,
		func(key string, n int64, sum float64) {
			st.Chantiers.ParStatut[key] = n
			st.Chantiers.Total += n
			st.Chantiers.BudgetTotal += sum
		})
	if err == nil {
		err = s.grouped(ctx, `SELECT type, COUNT(*), COALESCE(SUM(heures), 0) FROM pointages GROUP BY type`,
			func(key string, n int64, sum float64) {
				st.Pointages.HeuresParType[key] = sum
				st.Pointages.Total += n
				st.Pointages.HeuresTotal += sum
			})
	}
	if err == nil {
		err = s.grouped(ctx, `SELECT gravite, COUNT(*), 0 FROM signalements WHERE statut IN ('ouvert', 'en_cours') GROUP BY gravite`,
			func(key string, n int64, _ float64) {
				st.Signalements.OuvertsParGravite[key] = n
				st.Signalements.Ouverts += n
			})
	}
	for _, c := range []struct {
		table string
		dst   *int64
	}{
		{"signalements", &st.Signalements.Total},
		{"documents", &st.Documents.Total},
		{"affectations", &st.Affectations.Total},
		{"users", &st.Users.Total},
	} {
		if err != nil {
			break
		}
		err = s.db.QueryRow(ctx, `SELECT COUNT(*) FROM `+c.table).Scan(c.dst)
	}
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// grouped runs a "SELECT key, count, sum … GROUP BY key" query.
func (s *Service) grouped(ctx context.Context, q string, f func(key string, n int64, sum float64)) error {
	rows, err := s.db.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var n int64
		var sum float64
		if err := rows.Scan(&key, &n, &sum); err != nil {
			return err
		}
		f(key, n, sum)
	}
	return rows.Err()
}

func zeroCounts(keys []string) map[string]int64 {
	m := make(map[string]int64, len(keys))
	for _, k := range keys {
		m[k] = 0
	}
	return m
}
