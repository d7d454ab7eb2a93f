package domain

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/page"
)

// This file counts the rows of offset lists cheaply (docs/upstream.md,
// "Totals"): an exact count that stops after page.MaxOffsetRows rows, and
// beyond it an estimate — PostgreSQL's planner estimate, or on SQLite
// (which has none) an exact count reused for countTTL.

// countTTL is how long SQLite reuses a count beyond page.MaxOffsetRows.
const countTTL = 30 * time.Second

// maxCachedCounts bounds the SQLite count cache (distinct filters and
// callers' reaches); it is emptied when full.
const maxCachedCounts = 1024

// countCache holds SQLite counts of large lists.
type countCache struct {
	mu sync.Mutex
	m  map[string]cachedCount
}

type cachedCount struct {
	n  int64
	at time.Time
}

// countTotal returns the total of an offset page and whether it is exact,
// or nil with mode none. from is " FROM <table or join>", where and args
// the list's filter; offset, got and more describe the page read (more:
// rows follow it).
//
// The last page tells the total without a query. Otherwise mode exact
// counts every matching row; mode auto counts at most MaxOffsetRows+1
// rows, and reports an estimate beyond (never below what the page proved).
func (s *Service) countTotal(ctx context.Context, mode page.TotalMode, from string, where []string, args []any, offset int64, got int, more bool) (*int64, bool, error) {
	if mode == page.TotalNone {
		return nil, false, nil
	}
	if !more && (got > 0 || offset == 0) {
		n := offset + int64(got)
		return &n, true, nil
	}
	w := whereSQL(where...)
	var n int64
	if mode == page.TotalExact {
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*)`+from+w, args...).Scan(&n); err != nil {
			return nil, false, err
		}
		return &n, true, nil
	}
	if err := s.db.QueryRow(ctx, boundedCountSQL(from+w), append(args[:len(args):len(args)], page.MaxOffsetRows+1)...).Scan(&n); err != nil {
		return nil, false, err
	}
	if n <= page.MaxOffsetRows {
		return &n, true, nil
	}
	est, err := s.estimate(ctx, from+w, args)
	if err != nil {
		return nil, false, err
	}
	known := offset + int64(got)
	if more {
		known++
	}
	est = max(est, n, known)
	return &est, false, nil
}

// boundedCountSQL counts the rows of "FROM … WHERE …" up to a limit (the
// last argument): the database stops reading there.
func boundedCountSQL(fromWhere string) string {
	return `SELECT COUNT(*) FROM (SELECT 1` + fromWhere + ` LIMIT ?) bounded`
}

// estimate returns the number of rows of "FROM … WHERE …" as the
// database estimates it: PostgreSQL's planner row estimate (from the
// table statistics, no row read), or on SQLite an exact count reused for
// countTTL.
func (s *Service) estimate(ctx context.Context, fromWhere string, args []any) (int64, error) {
	if s.db.Dialect == db.Postgres {
		return s.planRows(ctx, `SELECT 1`+fromWhere, args)
	}
	key := fromWhere + "\x00" + fmt.Sprint(args...)
	now := s.now()
	s.counts.mu.Lock()
	c, ok := s.counts.m[key]
	s.counts.mu.Unlock()
	if ok && now.Sub(c.at) < countTTL && now.Sub(c.at) >= 0 {
		return c.n, nil
	}
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*)`+fromWhere, args...).Scan(&n); err != nil {
		return 0, err
	}
	s.counts.mu.Lock()
	if s.counts.m == nil || len(s.counts.m) >= maxCachedCounts {
		s.counts.m = make(map[string]cachedCount)
	}
	s.counts.m[key] = cachedCount{n, now}
	s.counts.mu.Unlock()
	return n, nil
}

// planRows is PostgreSQL's estimate of the rows q returns (EXPLAIN, which
// plans q without running it).
func (s *Service) planRows(ctx context.Context, q string, args []any) (int64, error) {
	var plan string
	if err := s.db.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+q, args...).Scan(&plan); err != nil {
		return 0, fmt.Errorf("estimate rows: %w", err)
	}
	var p []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.NewDecoder(strings.NewReader(plan)).Decode(&p); err != nil || len(p) == 0 {
		return 0, fmt.Errorf("estimate rows: unreadable plan: %v", err)
	}
	return int64(p[0].Plan.Rows), nil
}
