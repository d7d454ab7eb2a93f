// Package db opens the Hub Chantier database, SQLite (pure Go, no cgo) or
// PostgreSQL, and applies the embedded migrations.
//
// Queries are written once with '?' placeholders; Rebind turns them into
// $1, $2… for PostgreSQL. Times are stored as int64 Unix microseconds so
// that ordering, keyset pagination and arithmetic behave alike on both.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx".
	_ "modernc.org/sqlite"             // SQLite driver "sqlite".
)

// Dialect names the SQL flavour of a DB.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a *sql.DB that knows its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// stmts caches SQLite's prepared statements (stmts.go); nil for
	// PostgreSQL.
	stmts *stmtCache
}

// IsPostgresURL reports whether dsn selects PostgreSQL.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens dsn: a postgres:// URL selects PostgreSQL, anything else is a
// SQLite file path (its directory is created).
func Open(dsn string) (*DB, error) {
	if IsPostgresURL(dsn) {
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sdb.SetMaxOpenConns(20)
		sdb.SetMaxIdleConns(10)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		return &DB{DB: sdb, Dialect: Postgres}, nil
	}
	if dir := filepath.Dir(dsn); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	// WAL lets readers run beside the writer; busy_timeout waits for the lock
	// instead of failing; _txlock=immediate takes the write lock at BEGIN so
	// that concurrent read-then-write transactions never deadlock on upgrade.
	q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	// The path is part of a URI: escape what would end or break it.
	path := strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(dsn)
	sdb, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	sdb.SetMaxOpenConns(8)
	return &DB{DB: sdb, Dialect: SQLite, stmts: &stmtCache{}}, nil
}

// Rebind rewrites '?' placeholders for the dialect. It does not look inside
// string literals: queries pass values as arguments, never as literals with '?'.
func (d *DB) Rebind(q string) string {
	if d.Dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Exec, Query and QueryRow rebind q before running it, inside the
// transaction ctx carries (WithTx), if any.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if tx := TxOf(ctx); tx != nil {
		return tx.ExecContext(ctx, d.Rebind(q), args...)
	}
	return d.DB.ExecContext(ctx, d.Rebind(q), args...)
}

// Query runs a rebound query (a cached prepared statement on SQLite).
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if tx := TxOf(ctx); tx != nil {
		return tx.QueryContext(ctx, d.Rebind(q), args...)
	}
	if s := d.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, d.Rebind(q), args...)
}

// QueryRow runs a rebound single-row query (a cached prepared statement
// on SQLite).
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if tx := TxOf(ctx); tx != nil {
		return tx.QueryRowContext(ctx, d.Rebind(q), args...)
	}
	if s := d.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, d.Rebind(q), args...)
}

// InsertID runs an INSERT and returns the new row's id. q must not end with
// RETURNING: it is added for PostgreSQL (whose driver has no LastInsertId).
func (d *DB) InsertID(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	var id int64
	if tx == nil {
		tx = TxOf(ctx)
	}
	if d.Dialect == Postgres {
		q = d.Rebind(q) + " RETURNING id"
		var err error
		if tx != nil {
			err = tx.QueryRowContext(ctx, q, args...).Scan(&id)
		} else {
			err = d.DB.QueryRowContext(ctx, q, args...).Scan(&id)
		}
		return id, err
	}
	var res sql.Result
	var err error
	if tx != nil {
		res, err = tx.ExecContext(ctx, q, args...)
	} else {
		res, err = d.DB.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Micros converts a time to the stored form.
func Micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// FromMicros converts the stored form back to a UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// IsUniqueViolation reports whether err is a unique-constraint failure.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// IsForeignKeyViolation reports whether err is a foreign-key failure.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}
