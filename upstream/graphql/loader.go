package graphql

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// No N+1: rows loaded together (one page of a list, the children of one
// page) form a group. The first time a resolver asks for a reference or a
// nested list on a row, the loader loads it for every row of the group in
// one query (domain.RowsBy) and hands each row its part; its siblings find
// the answer ready. A query for 20 chantiers with their affectations and
// each affectation's user is three SELECTs, whatever the page size. The
// batching is by siblings, not by a timer, so it is deterministic.

// group is a set of rows loaded together.
type group struct {
	rows  []*row
	mu    sync.Mutex
	loads map[string]*load
}

// load is one batched query of a group, run once.
type load struct {
	once sync.Once
	by   map[int64][]*row
	err  error
}

// newGroup wraps decoded rows into one group.
func newGroup(ms []map[string]any) *group {
	g := &group{rows: make([]*row, len(ms)), loads: map[string]*load{}}
	for i, m := range ms {
		g.rows[i] = &row{m: m, grp: g}
	}
	return g
}

func (g *group) get(key string) *load {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.loads[key]
	if !ok {
		l = &load{}
		g.loads[key] = l
	}
	return l
}

// batch runs, once per group and key, RowsBy(resource, column, the keys of
// every row of the group, perKey) and returns the rows for this row's key.
func (r *row) batch(ctx context.Context, key, resource, column string, keyOf func(*row) int64, perKey int) ([]*row, error) {
	l := r.grp.get(key)
	l.once.Do(func() {
		e := execOf(ctx)
		if e == nil {
			l.err = errors.New("graphql: no request state")
			return
		}
		seen := map[int64]bool{}
		var keys []int64
		for _, s := range r.grp.rows {
			if k := keyOf(s); k > 0 && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		raw, p, err := e.svc.RowsBy(ctx, e.claims, resource, column, keys, perKey)
		if err != nil {
			l.err = err
			return
		}
		if p != nil {
			l.err = &problemError{Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail}
			return
		}
		var ms []map[string]any
		var owners []int64
		for k, list := range raw {
			for _, b := range list {
				m, err := decodeRow(b)
				if err != nil {
					l.err = err
					return
				}
				ms = append(ms, m)
				owners = append(owners, k)
			}
		}
		// The loaded rows are themselves one group: their own references
		// load together too.
		child := newGroup(ms)
		l.by = make(map[int64][]*row, len(raw))
		for i, c := range child.rows {
			l.by[owners[i]] = append(l.by[owners[i]], c)
		}
	})
	if l.err != nil {
		return nil, l.err
	}
	return l.by[keyOf(r)], nil
}

// one resolves a reference (column holds the id of a row of resource):
// null when the row is beyond the caller's reach, as REST answers 404.
func (r *row) one(ctx context.Context, resource, column string) (*row, error) {
	if r.int64Of(column) == 0 {
		return nil, nil
	}
	rows, err := r.batch(ctx, "ref:"+column, resource, "id", func(s *row) int64 { return s.int64Of(column) }, 1)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// maxFirst is the largest page of a list, as REST's limit.
const maxFirst = 100

// children resolves a nested list: the rows of resource whose chantier_id
// is this row's id, at most first (default 20, 1–100).
func (r *row) children(ctx context.Context, resource string, first int32) ([]*row, error) {
	n := int(first)
	if n < 1 || n > maxFirst {
		return nil, validationError("first", "first must be between 1 and "+strconv.Itoa(maxFirst))
	}
	rows, err := r.batch(ctx, "list:"+resource+":"+strconv.Itoa(n), resource, "chantier_id", func(s *row) int64 { return s.int64Of("id") }, n)
	if rows == nil && err == nil {
		rows = []*row{}
	}
	return rows, err
}
