package domain

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func TestStats(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		uid := h.user("o@example.com", "Omar", "ouvrier")
		c1 := h.create("chantiers", map[string]any{"nom": "A", "statut": "en_cours", "budget": 1000.5})
		h.create("chantiers", map[string]any{"nom": "B", "budget": 500})
		h.create("chantiers", map[string]any{"nom": "C"})
		for _, p := range []map[string]any{
			{"heures": 8, "type": "normal"}, {"heures": 7.5}, {"heures": 4, "type": "weekend"},
		} {
			p["chantier_id"], p["user_id"], p["date"] = c1, uid, "2025-03-03"
			h.create("pointages", p)
		}
		for _, s := range []map[string]any{
			{"gravite": "haute"}, {"gravite": "haute", "statut": "en_cours"}, {"gravite": "faible", "statut": "resolu"}, {"gravite": "critique", "statut": "ferme"},
		} {
			s["chantier_id"], s["titre"] = c1, "t"
			h.create("signalements", s)
		}
		h.create("documents", map[string]any{"chantier_id": c1, "nom": "plan.pdf"})

		w := h.do("GET", "/api/v1/stats", nil)
		if w.Code != 200 {
			t.Fatalf("stats: %d %s", w.Code, w.Body)
		}
		var st Stats
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		if st.Chantiers.Total != 3 || st.Chantiers.ParStatut["planifie"] != 2 || st.Chantiers.ParStatut["en_cours"] != 1 ||
			st.Chantiers.ParStatut["termine"] != 0 || st.Chantiers.BudgetTotal != 1500.5 {
			t.Errorf("chantiers: %+v", st.Chantiers)
		}
		if st.Pointages.Total != 3 || st.Pointages.HeuresTotal != 19.5 || st.Pointages.HeuresParType["normal"] != 15.5 ||
			st.Pointages.HeuresParType["weekend"] != 4 || st.Pointages.HeuresParType["nuit"] != 0 {
			t.Errorf("pointages: %+v", st.Pointages)
		}
		if st.Signalements.Total != 4 || st.Signalements.Ouverts != 2 || st.Signalements.OuvertsParGravite["haute"] != 2 ||
			st.Signalements.OuvertsParGravite["faible"] != 0 {
			t.Errorf("signalements: %+v", st.Signalements)
		}
		if st.Documents.Total != 1 || st.Affectations.Total != 0 || st.Users.Total != 1 {
			t.Errorf("counts: %+v %+v %+v", st.Documents, st.Affectations, st.Users)
		}
	})
}

func TestPlanning(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		u1 := h.user("a@example.com", "Alice Moreau", "ouvrier")
		u2 := h.user("b@example.com", "Bruno Petit", "ouvrier")
		c1 := h.create("chantiers", map[string]any{"nom": "Résidence Les Tilleuls"})
		c2 := h.create("chantiers", map[string]any{"nom": "École Jules Ferry"})
		a1 := h.create("affectations", map[string]any{"chantier_id": c1, "user_id": u1, "date_debut": "2025-03-01", "date_fin": "2025-03-31", "role_chantier": "maçon"})
		a2 := h.create("affectations", map[string]any{"chantier_id": c2, "user_id": u2, "date_debut": "2025-04-01"})
		a3 := h.create("affectations", map[string]any{"chantier_id": c2, "user_id": u1, "date_debut": "2025-02-01", "date_fin": "2025-02-15"})
		tests := []struct {
			query string
			want  []int64
		}{
			{"", []int64{a3, a1, a2}},
			{"?from=2025-03-10&to=2025-03-20", []int64{a1}},
			{"?from=2025-05-01", []int64{a2}}, // open-ended
			{"?to=2025-02-28", []int64{a3}},
			{"?user_id=" + strconv.FormatInt(u1, 10), []int64{a3, a1}},
			{"?chantier_id=" + strconv.FormatInt(c2, 10) + "&from=2025-01-01", []int64{a3, a2}},
			{"?limit=1&page=2", []int64{a1}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				m := h.ok(200, "GET", "/api/v1/planning"+tt.query, nil)
				var got []int64
				for _, it := range m["data"].([]any) {
					got = append(got, int64(it.(map[string]any)["id"].(float64)))
				}
				if len(got) != len(tt.want) || (len(got) > 0 && !slices.Equal(got, tt.want)) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				if m["pagination"].(map[string]any)["total"] == nil {
					t.Fatalf("no total: %v", m)
				}
			})
		}
		w := h.do("GET", "/api/v1/planning?user_id="+strconv.FormatInt(u1, 10)+"&from=2025-03-01&to=2025-03-01", nil)
		for _, want := range []string{`"chantier_nom":"Résidence Les Tilleuls"`, `"user_nom":"Alice Moreau"`, `"role_chantier":"maçon"`} {
			if !strings.Contains(w.Body.String(), want) {
				t.Errorf("planning lacks %s: %s", want, w.Body)
			}
		}
		for _, q := range []string{"?from=2025-13-01", "?from=2025-03-02&to=2025-03-01", "?cursor=", "?statut=en_cours"} {
			if w := h.do("GET", "/api/v1/planning"+q, nil); w.Code != 400 {
				t.Errorf("planning%s: %d", q, w.Code)
			}
		}
	})
}

// TestSeedWithoutUsers seeds only what needs no user. (Each is called once
// per test: a second call would name subtests "sqlite#01", and '#' in the
// SQLite file path ends the file: URI.)
func TestSeedWithoutUsers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newHarness(t, d)
		if err := h.s.Seed(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := h.s.stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Chantiers.Total != int64(len(seedChantiers)) || st.Pointages.Total != 0 || st.Affectations.Total != 0 || st.Documents.Total == 0 {
			t.Fatalf("stats after seed: %+v", st)
		}
	})
}

func TestSeed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newHarness(t, d)
		h.user("admin@example.com", "Admin", "admin")
		h.user("c@example.com", "Claire Martin", "conducteur")
		h.user("o@example.com", "Omar Benali", "ouvrier")
		for range 2 { // idempotent
			if err := h.s.Seed(ctx); err != nil {
				t.Fatal(err)
			}
		}
		st, err := h.s.stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Chantiers.Total != int64(len(seedChantiers)) || st.Pointages.Total != 30 || st.Affectations.Total != 6 ||
			st.Signalements.Total != int64(len(seedSignalements)) || st.Users.Total != 3 {
			t.Fatalf("stats after seed: %+v", st)
		}
		// Seeded rows are valid through the API: a round trip PUT works.
		m := h.ok(200, "GET", "/api/v1/chantiers?statut=en_cours&limit=1", nil)
		first := m["data"].([]any)[0].(map[string]any)
		id := int64(first["id"].(float64))
		h.ok(200, "PUT", path("chantiers", id), first, "If-Match", `"v1"`)
		h.ok(200, "GET", "/api/v1/planning?from="+first["date_debut"].(string), nil)
	})
}
