package domain

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/page"
)

// bulkChantiers inserts n chantiers in one statement, ids 1…n in
// created_at order, a quarter of them en_cours, and analyses the tables.
func bulkChantiers(t *testing.T, d *db.DB, n int) {
	t.Helper()
	base := db.Micros(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	sel := `SELECT 'C' || g, CASE g % 4 WHEN 1 THEN 'en_cours' ELSE 'planifie' END, CAST(? AS BIGINT) + g * 1000, CAST(? AS BIGINT) + g * 1000`
	q := `INSERT INTO chantiers (nom, statut, created_at, updated_at) ` + sel + ` FROM generate_series(1, CAST(? AS INTEGER)) AS g`
	args := []any{base, base, n}
	if d.Dialect == db.SQLite {
		q = `WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?) INSERT INTO chantiers (nom, statut, created_at, updated_at) ` + sel + ` FROM s`
		args = []any{n, base, base}
	}
	if _, err := d.Exec(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(context.Background(), `ANALYZE`); err != nil {
		t.Fatal(err)
	}
}

// TestLargeListTotals checks offset lists beyond page.MaxOffsetRows rows:
// the default page does not count every row and says its total is
// estimated; ?total=exact counts; ?total=none does not; pages past
// MaxOffsetRows are refused towards cursor mode, which next_cursor joins.
func TestLargeListTotals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		const n = page.MaxOffsetRows + 50
		bulkChantiers(t, d, n)
		now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		h.s.now = func() time.Time { return now }

		ids, p := listIDs(h, "")
		if len(ids) != 20 || ids[0] != 1 || ids[19] != 20 {
			t.Fatalf("page 1: %v", ids)
		}
		total, _ := p["total"].(float64)
		if p["total_exact"] != false || total < page.MaxOffsetRows+1 || total > 2*n || p["total_pages"] != float64((int64(total)+19)/20) {
			t.Fatalf("default page of %d rows: pagination %v, want an estimated total", n, p)
		}
		if p["has_more"] != true || p["next_cursor"] == nil {
			t.Fatalf("has_more/next_cursor: %v", p)
		}
		// next_cursor continues in cursor mode right after the page.
		next, _ := listIDs(h, "?cursor="+url.QueryEscape(p["next_cursor"].(string)))
		if len(next) != 20 || next[0] != 21 {
			t.Fatalf("cursor after page 1: %v", next)
		}

		// Exact on demand.
		_, p = listIDs(h, "?total=exact")
		if p["total"] != float64(n) || p["total_exact"] != true || p["total_pages"] != float64((n+19)/20) {
			t.Fatalf("total=exact: %v", p)
		}
		// Not counted on demand.
		_, p = listIDs(h, "?total=none&page=3")
		if p["total"] != nil || p["total_pages"] != nil || p["total_exact"] != false || p["has_more"] != true || p["page"] != 3.0 {
			t.Fatalf("total=none: %v", p)
		}
		// A filter matching fewer than MaxOffsetRows rows is counted exactly.
		ids, p = listIDs(h, "?statut=en_cours&limit=5&page=2")
		if p["total"] != float64((n+3)/4) || p["total_exact"] != true || len(ids) != 5 || ids[0] != 21 {
			t.Fatalf("filtered: %v %v", ids, p)
		}
		// The last reachable page, then one too deep.
		ids, p = listIDs(h, "?page=100&limit=100")
		if len(ids) != 100 || ids[0] != 9901 || p["has_more"] != true {
			t.Fatalf("page 100: %v… %v", ids[:1], p)
		}
		for _, q := range []string{"?page=101&limit=100", "?page=501", "?page=1099511627776"} {
			w := h.do("GET", "/api/v1/chantiers"+q, nil)
			typ, fields := problemFields(t, w)
			if w.Code != 400 || typ != "urn:hubchantier:problem:page-too-deep" || len(fields) != 1 || fields[0] != "page" || !strings.Contains(w.Body.String(), "cursor") {
				t.Fatalf("%s: %d %s", q, w.Code, w.Body)
			}
		}
		// The planning is bounded the same way.
		if w := h.do("GET", "/api/v1/planning?page=501", nil); w.Code != 400 {
			t.Fatalf("deep planning page: %d %s", w.Code, w.Body)
		}
		if w := h.do("GET", "/api/v1/chantiers?cursor=&total=exact", nil); w.Code != 400 {
			t.Fatalf("total in cursor mode: %d %s", w.Code, w.Body)
		}

		if d.Dialect == db.SQLite {
			// SQLite has no estimate: its count is reused for countTTL.
			h.create("chantiers", map[string]any{"nom": "late"})
			if _, p = listIDs(h, ""); p["total"] != float64(n) || p["total_exact"] != false {
				t.Fatalf("within the TTL: %v", p)
			}
			now = now.Add(countTTL)
			if _, p = listIDs(h, ""); p["total"] != float64(n+1) || p["total_exact"] != false {
				t.Fatalf("after the TTL: %v", p)
			}
			return
		}
		// PostgreSQL: the default count stops at MaxOffsetRows+1 rows
		// (a Limit under the Aggregate), never a full count.
		var plan string
		q := d.Rebind(`EXPLAIN (FORMAT JSON) ` + boundedCountSQL(` FROM chantiers`))
		if err := d.QueryRowContext(context.Background(), q, page.MaxOffsetRows+1).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, `"Node Type": "Aggregate"`) || !strings.Contains(plan, `"Node Type": "Limit"`) ||
			strings.Index(plan, `"Node Type": "Limit"`) < strings.Index(plan, `"Node Type": "Aggregate"`) {
			t.Fatalf("bounded count plan: %s", plan)
		}
	})
}
