package db

import (
	"context"
	"database/sql"
	"sync"
)

// MaxCachedStatements bounds the prepared statements a DB keeps (queries
// are built from fixed templates, so the set is small; beyond the bound a
// query is simply prepared each time, as without the cache).
const MaxCachedStatements = 512

// stmtCache keeps SQLite's prepared statements by query text. The pure-Go
// SQLite driver parses and plans the SQL of every unprepared query (about
// a tenth of a list request's CPU); database/sql prepares a cached *sql.Stmt
// once per connection. PostgreSQL needs none: pgx caches prepared
// statements per connection itself.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns the cached statement of q, preparing it on first use, or
// nil when the cache is full or preparing failed (the caller then runs q
// unprepared, which reports the error if there is one).
func (d *DB) stmt(ctx context.Context, q string) *sql.Stmt {
	c := d.stmts
	if c == nil {
		return nil
	}
	c.mu.Lock()
	s, ok := c.m[q]
	full := len(c.m) >= MaxCachedStatements
	c.mu.Unlock()
	if ok || full {
		return s
	}
	s, err := d.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[q]; ok {
		_ = s.Close() // prepared concurrently by another request
		return prev
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[q] = s
	return s
}

// CachedStatements is the number of prepared statements the DB keeps.
func (d *DB) CachedStatements() int {
	if d.stmts == nil {
		return 0
	}
	d.stmts.mu.Lock()
	defer d.stmts.mu.Unlock()
	return len(d.stmts.m)
}

// Close closes the cached statements, then the database.
func (d *DB) Close() error {
	if c := d.stmts; c != nil {
		c.mu.Lock()
		for q, s := range c.m {
			_ = s.Close()
			delete(c.m, q)
		}
		c.mu.Unlock()
	}
	return d.DB.Close()
}
