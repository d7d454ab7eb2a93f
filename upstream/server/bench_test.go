package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/page"
)

// These benchmarks measure the upstream's own cost per request, in
// process, through the whole handler chain (assertion check, Principals'
// role lookup, authorization, list, JSON): docs/performance.md, Upstream.
//
//	go test -run '^$' -bench BenchmarkList -benchmem ./upstream/server/
//	HUB_BENCH_LARGE=1 go test -run '^$' -bench BenchmarkLargeList -benchtime 20x ./upstream/server/

// benchEnv is a server on d with n chantiers and an admin user 1, and a
// request maker carrying a valid gateway assertion.
type benchEnv struct {
	h      http.Handler
	secret []byte
	now    time.Time
	tok    string
}

func newBenchEnv(b *testing.B, d *db.DB) *benchEnv {
	b.Helper()
	secret := bytes.Repeat([]byte("s"), MinSecretLen)
	now := time.Now()
	h, a, err := New(context.Background(), Config{GatewaySecret: secret, BcryptCost: bcrypt.MinCost, Now: func() time.Time { return now }}, d)
	if err != nil {
		b.Fatal(err)
	}
	u, err := a.CreateUser(context.Background(), "admin@example.test", "password-admin", "Admin", "admin")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := assertion.Sign(secret, assertion.Claims{Subject: strconv.FormatInt(u.ID, 10), Role: "admin", Method: "api_key",
		Scopes: []string{"read"}, HTTPMethod: "GET"}, now)
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{h: h, secret: secret, now: now, tok: tok}
}

// get serves one GET and fails the benchmark unless it is a 200.
func (e *benchEnv) get(b *testing.B, target string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set(assertion.Header, e.tok)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	return w
}

// seedChantiers inserts n chantiers in one statement (generate_series on
// PostgreSQL, a recursive CTE on SQLite), with distinct created_at.
func seedChantiers(b *testing.B, d *db.DB, n int) {
	b.Helper()
	base := db.Micros(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	sel := `SELECT 'Chantier ' || g, g || ' rue du Port', CASE g % 4 WHEN 0 THEN 'planifie' WHEN 1 THEN 'en_cours' WHEN 2 THEN 'suspendu' ELSE 'termine' END,
		'2025-03-01', 'Client ' || (g % 97), 1000.5 * (g % 13), CAST(? AS BIGINT) + g * 1000, CAST(? AS BIGINT) + g * 1000`
	var q string
	if d.Dialect == db.Postgres {
		q = `INSERT INTO chantiers (nom, adresse, statut, date_debut, client, budget, created_at, updated_at) ` + sel + ` FROM generate_series(1, CAST(? AS INTEGER)) AS g`
	} else {
		q = `WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?) INSERT INTO chantiers (nom, adresse, statut, date_debut, client, budget, created_at, updated_at) ` + sel + ` FROM s`
	}
	args := []any{base, base, n}
	if d.Dialect != db.Postgres {
		args = []any{n, base, base}
	}
	start := time.Now()
	if _, err := d.Exec(context.Background(), q, args...); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Exec(context.Background(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %d chantiers inserted and analysed in %s", d.Dialect, n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkList is GET /api/v1/chantiers?limit=20 (offset mode, the
// default) and its cursor-mode twin on 1,000 chantiers.
func BenchmarkList(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var d *db.DB
			if dialect == "sqlite" {
				d = dbtest.SQLite(b)
			} else {
				d = dbtest.Postgres(b)
			}
			e := newBenchEnv(b, d)
			seedChantiers(b, d, 1000)
			for _, target := range []string{"/api/v1/chantiers?limit=20", "/api/v1/chantiers?cursor=&limit=20"} {
				b.Run(target[len("/api/v1/chantiers?"):], func(b *testing.B) {
					b.ReportAllocs()
					cpu := cpuTime()
					for b.Loop() {
						e.get(b, target)
					}
					reportCPU(b, cpu)
				})
			}
		})
	}
}

// BenchmarkLargeList pages through 1,000,000 chantiers on PostgreSQL
// (HUB_BENCH_LARGE=1 and HUB_TEST_POSTGRES_URL): page 1, a middle and a
// deep page in offset mode, and cursor pages at the same depths.
func BenchmarkLargeList(b *testing.B) {
	if os.Getenv("HUB_BENCH_LARGE") == "" {
		b.Skip("set HUB_BENCH_LARGE=1 to seed 1,000,000 chantiers")
	}
	const n = 1_000_000
	d := dbtest.Postgres(b)
	e := newBenchEnv(b, d)
	seedChantiers(b, d, n)
	codec := page.NewCodec(deriveKey(e.secret, "cursor"))
	base := db.Micros(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cursorAt := func(row int64) string {
		// The row with id = row has created_at base + row*1000 (seedChantiers).
		return codec.Encode(page.Scope("chantiers", nil), page.Position{Dir: page.Next, CreatedAt: base + row*1000, ID: row})
	}
	for _, tc := range []struct{ name, query string }{
		{"offset_page_1", "?page=1&limit=20"},
		{"offset_page_250", "?page=250&limit=20"},
		{"offset_page_500", "?page=500&limit=20"},
		{"offset_page_25000", "?page=25000&limit=20"},
		{"offset_page_49000", "?page=49000&limit=20"},
		{"offset_page_1_statut", "?page=1&limit=20&statut=en_cours"},
		{"offset_page_1_total_exact", "?page=1&limit=20&total=exact"},
		{"offset_page_1_total_none", "?page=1&limit=20&total=none"},
		{"cursor_first", "?cursor=&limit=20"},
		{"cursor_row_500000", "?limit=20&cursor=" + cursorAt(500_000)},
		{"cursor_row_980000", "?limit=20&cursor=" + cursorAt(980_000)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/api/v1/chantiers"+tc.query, nil)
			r.Header.Set(assertion.Header, e.tok)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			body := w.Body.String()
			b.Logf("%s: %d …%s", tc.query, w.Code, body[max(0, len(body)-260):])
			cpu := cpuTime()
			for b.Loop() {
				r := httptest.NewRequest("GET", "/api/v1/chantiers"+tc.query, nil)
				r.Header.Set(assertion.Header, e.tok)
				e.h.ServeHTTP(httptest.NewRecorder(), r)
			}
			reportCPU(b, cpu)
		})
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process CPU time per operation since start (the Go
// side only: PostgreSQL's own CPU is another process's) as cpu-µs/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}
