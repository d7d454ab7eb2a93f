package domain

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// listIDs returns the ids of a list page and its pagination object.
func listIDs(h *harness, query string) ([]int64, map[string]any) {
	h.t.Helper()
	m := h.ok(200, "GET", "/api/v1/chantiers"+query, nil)
	var ids []int64
	for _, it := range m["data"].([]any) {
		ids = append(ids, int64(it.(map[string]any)["id"].(float64)))
	}
	return ids, m["pagination"].(map[string]any)
}

// seedList creates n chantiers, every third one en_cours, and returns ids
// in creation order.
func seedList(h *harness, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		statut := "planifie"
		if i%3 == 0 {
			statut = "en_cours"
		}
		ids[i] = h.create("chantiers", map[string]any{"nom": fmt.Sprint("C", i), "statut": statut})
	}
	return ids
}

func TestOffsetList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		all := seedList(h, 23)
		var enCours []int64
		for i, id := range all {
			if i%3 == 0 {
				enCours = append(enCours, id)
			}
		}
		tests := []struct {
			query           string
			want            []int64
			total, pages    float64
			page, limitWant float64
		}{
			{"", all[:20], 23, 2, 1, 20},
			{"?page=2", all[20:], 23, 2, 2, 20},
			{"?page=3&limit=10", all[20:], 23, 3, 3, 10},
			{"?page=9", nil, 23, 2, 9, 20},
			{"?statut=en_cours&limit=5", enCours[:5], 8, 2, 1, 5},
			{"?statut=termine", nil, 0, 0, 1, 20},
			{"?sort=-nom&fields=id", all[:20], 23, 2, 1, 20},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				ids, p := listIDs(h, tt.query)
				if !slices.Equal(ids, tt.want) {
					t.Errorf("ids %v, want %v", ids, tt.want)
				}
				if p["total"] != tt.total || p["total_pages"] != tt.pages || p["page"] != tt.page || p["limit"] != tt.limitWant {
					t.Errorf("pagination %v", p)
				}
			})
		}
		// An empty page still has "data": [].
		if w := h.do("GET", "/api/v1/chantiers?page=50", nil); !strings.Contains(w.Body.String(), `"data":[]`) {
			t.Errorf("empty page: %s", w.Body)
		}
	})
}

func TestListErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		seedList(h, 3)
		_, p := listIDs(h, "?cursor=&limit=1")
		next := url.QueryEscape(p["next_cursor"].(string))
		tests := []struct {
			query, slug string
			fields      []string
		}{
			{"?limit=0", "validation", []string{"limit"}},
			{"?limit=101", "validation", []string{"limit"}},
			{"?limit=x", "validation", []string{"limit"}},
			{"?page=0", "validation", []string{"page"}},
			{"?colour=red", "validation", []string{"colour"}},
			{"?nom=C1", "validation", []string{"nom"}}, // not filterable
			{"?statut=fini", "validation", []string{"statut"}},
			{"?responsable_id=abc", "validation", []string{"responsable_id"}},
			{"?statut=planifie&statut=termine", "validation", []string{"statut"}},
			{"?cursor=&page=2", "validation", []string{"page"}},
			{"?cursor=garbage", "invalid-cursor", nil},
			{"?cursor=" + next[:len(next)-3] + "AAA", "invalid-cursor", nil},
			{"?cursor=" + next + "&statut=planifie", "invalid-cursor", nil},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				w := h.do("GET", "/api/v1/chantiers"+tt.query, nil)
				if w.Code != 400 {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				typ, fields := problemFields(t, w)
				if typ != "urn:hubchantier:problem:"+tt.slug || (tt.fields != nil && !slices.Equal(fields, tt.fields)) {
					t.Fatalf("type %q fields %v: %s", typ, fields, w.Body)
				}
			})
		}
		// A cursor of one resource is refused by another.
		w := h.do("GET", "/api/v1/documents?cursor="+next, nil)
		if typ, _ := problemFields(t, w); w.Code != 400 || typ != "urn:hubchantier:problem:invalid-cursor" {
			t.Fatalf("cursor on documents: %d %s", w.Code, w.Body)
		}
	})
}

func TestCursorWalk(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		all := seedList(h, 25)
		var enCours []int64
		for i, id := range all {
			if i%3 == 0 {
				enCours = append(enCours, id)
			}
		}
		for _, tt := range []struct {
			filter string
			want   []int64
			limit  int
		}{
			{"", all, 7},
			{"", all, 25},
			{"", all, 100},
			{"&statut=en_cours", enCours, 2},
			{"&statut=termine", nil, 5},
		} {
			t.Run(fmt.Sprint(tt.filter, tt.limit), func(t *testing.T) {
				// Forward to the end…
				var got []int64
				var pages []string // cursors that produced each page
				cursor := ""
				for n := 0; ; n++ {
					if n > 30 {
						t.Fatal("walk does not end")
					}
					ids, p := listIDs(h, fmt.Sprintf("?cursor=%s&limit=%d%s", url.QueryEscape(cursor), tt.limit, tt.filter))
					if len(ids) > tt.limit || p["limit"] != float64(tt.limit) {
						t.Fatalf("page of %d rows: %v", len(ids), p)
					}
					if (n == 0) != (p["prev_cursor"] == nil) && len(ids) > 0 {
						t.Fatalf("page %d prev_cursor %v", n, p["prev_cursor"])
					}
					got = append(got, ids...)
					pages = append(pages, cursor)
					if p["has_more"] != (p["next_cursor"] != nil) {
						t.Fatalf("has_more %v with next %v", p["has_more"], p["next_cursor"])
					}
					if p["next_cursor"] == nil {
						break
					}
					cursor = p["next_cursor"].(string)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("forward walk %v, want %v", got, tt.want)
				}
				// …then back to the start with prev cursors.
				_, p := listIDs(h, fmt.Sprintf("?cursor=%s&limit=%d%s", url.QueryEscape(pages[len(pages)-1]), tt.limit, tt.filter))
				var back []int64
				for p["prev_cursor"] != nil {
					var ids []int64
					ids, p = listIDs(h, fmt.Sprintf("?cursor=%s&limit=%d%s", url.QueryEscape(p["prev_cursor"].(string)), tt.limit, tt.filter))
					if len(ids) != tt.limit || p["next_cursor"] == nil {
						t.Fatalf("prev page %v %v", ids, p)
					}
					back = append(ids, back...)
				}
				if n := len(tt.want) - len(back); n < 0 || !slices.Equal(back, tt.want[:len(back)]) {
					t.Fatalf("backward walk %v, want a prefix of %v", back, tt.want)
				}
			})
		}
	})
}

// TestQueryPlanUsesIndex checks on SQLite that every list query, first and
// deep pages, filtered or not, is an index search, never a table scan.
func TestQueryPlanUsesIndex(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := context.Background()
	for _, r := range resources {
		queries := map[string][]any{
			"all":    nil,
			"cursor": {int64(1), int64(1)},
			"prev":   {int64(1), int64(1)},
		}
		for _, f := range r.fields {
			if f.filter {
				queries[f.name] = []any{"x"}
				queries[f.name+"+cursor"] = []any{"x", int64(1), int64(1)}
				queries[f.name+"+prev"] = []any{"x", int64(1), int64(1)}
			}
		}
		for name, args := range queries {
			var where []string
			col, walk, _ := strings.Cut(name, "+")
			if col == "cursor" || col == "prev" {
				col, walk = "", col
			}
			if col != "" && col != "all" {
				where = append(where, col+" = ?")
			}
			order := "created_at, id"
			switch walk {
			case "cursor":
				where = append(where, "(created_at, id) > (?, ?)")
			case "prev":
				where = append(where, "(created_at, id) < (?, ?)")
				order = "created_at DESC, id DESC"
			}
			q := `EXPLAIN QUERY PLAN SELECT ` + r.columns("") + ` FROM ` + r.name + whereSQL(where...) + ` ORDER BY ` + order + ` LIMIT 21`
			rows, err := d.Query(ctx, q, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			text := strings.Join(plan, "; ")
			t.Logf("%s %s: %s", r.name, name, text)
			if !strings.Contains(text, "USING INDEX") || strings.Contains(text, "TEMP B-TREE") ||
				(strings.Contains(text, "SCAN") && !strings.Contains(text, "USING INDEX")) {
				t.Errorf("%s %s: plan %q", r.name, name, text)
			}
			if name != "all" && !strings.Contains(text, "SEARCH") {
				t.Errorf("%s %s: not an index range search: %q", r.name, name, text)
			}
		}
	}
}
