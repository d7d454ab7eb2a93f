package domain

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/authz"
)

// This file is the batched read the GraphQL endpoint (upstream/graphql)
// needs to avoid N+1 queries: the rows of many parents in one SELECT,
// filtered by the caller's read reach exactly as a REST list is.

// MaxBatchKeys bounds the keys of one RowsBy call (one IN list).
const MaxBatchKeys = 1000

// RowsBy returns, in one query, the rows of resource whose column equals
// one of keys and that the caller may read (the reach of authz.Read, as a
// REST list of the resource filters them), at most perKey rows per key in
// list order (created_at, id). Each row is its REST JSON representation.
// column is "id" or a reference field of the resource (chantier_id,
// user_id, responsable_id). A caller the permission matrix refuses gets
// the REST problem (401/403); a bad resource or column is an error.
func (s *Service) RowsBy(ctx context.Context, caller *assertion.Claims, resource, column string, keys []int64, perKey int) (map[int64][]json.RawMessage, *problem.Problem, error) {
	res := resourceNamed(resource)
	if res == nil {
		return nil, nil, fmt.Errorf("rows by: unknown resource %q", resource)
	}
	if column != "id" {
		if f := res.fieldByName(column); f == nil || f.kind != kRef {
			return nil, nil, fmt.Errorf("rows by: %s.%s is not a reference", resource, column)
		}
	}
	if len(keys) == 0 {
		return map[int64][]json.RawMessage{}, nil, nil
	}
	if len(keys) > MaxBatchKeys || perKey < 1 {
		return nil, nil, fmt.Errorf("rows by: %d keys, %d per key", len(keys), perKey)
	}
	d, p := authz.Check(caller, res.name, authz.Read)
	if p != nil {
		return nil, p, nil
	}
	terms, args := listFilter(access{Decision: d, resource: res.name, act: authz.Read}, res, "")
	marks := strings.Repeat("?, ", len(keys))
	in := column + " IN (" + marks[:len(marks)-2] + ")"
	all := make([]any, 0, len(keys)+len(args)+1)
	for _, k := range keys {
		all = append(all, k)
	}
	all = append(append(all, args...), perKey)
	// ROW_NUMBER bounds each key's rows in the same query (SQLite ≥ 3.25
	// and PostgreSQL both have window functions).
	q := `SELECT ` + res.cols + ` FROM (SELECT ` + res.cols + `, ROW_NUMBER() OVER (PARTITION BY ` + column +
		` ORDER BY created_at, id) AS hub_rn FROM ` + res.name + whereSQL(append([]string{in}, terms...)...) +
		`) t WHERE hub_rn <= ? ORDER BY created_at, id`
	recs, err := s.query(ctx, res, q, all...)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[int64][]json.RawMessage, len(keys))
	for _, rec := range recs {
		var key int64
		if column == "id" {
			key = rec.id
		} else {
			key, _ = rec.vals[column].(int64)
		}
		b, err := rec.appendJSON(nil)
		if err != nil {
			return nil, nil, err
		}
		out[key] = append(out[key], b)
	}
	return out, nil, nil
}

// resourceNamed returns the resource served under /api/v1/<name>, or nil.
func resourceNamed(name string) *resource {
	for _, r := range resources {
		if r.name == name {
			return r
		}
	}
	return nil
}
