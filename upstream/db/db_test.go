package db_test

import (
	"context"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func TestRebind(t *testing.T) {
	d := &db.DB{Dialect: db.Postgres}
	if got := d.Rebind("a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Fatalf("got %q", got)
	}
	s := &db.DB{Dialect: db.SQLite}
	if got := s.Rebind("a = ?"); got != "a = ?" {
		t.Fatalf("got %q", got)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := d.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		id, err := d.InsertID(ctx, nil, `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			"a@example.com", "A", "admin", "x", 1, 1)
		if err != nil || id <= 0 {
			t.Fatalf("insert: id=%d err=%v", id, err)
		}
		_, err = d.Exec(ctx, `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			"a@example.com", "B", "admin", "x", 1, 1)
		if !db.IsUniqueViolation(err) {
			t.Fatalf("want unique violation, got %v", err)
		}
	})
}

// TestStatementCache checks that SQLite reads reuse one prepared
// statement per query text, still see new rows and the schema's changes,
// and that failing queries are not cached.
func TestStatementCache(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := context.Background()
	count := func() int {
		var n int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE role = ?`, "admin").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := d.CachedStatements()
	if count() != 0 || count() != 0 {
		t.Fatal("no admin yet")
	}
	if got := d.CachedStatements(); got != before+1 {
		t.Fatalf("cached statements %d, want %d", got, before+1)
	}
	if _, err := d.Exec(ctx, `INSERT INTO users (email, nom, role, password_hash, created_at, updated_at) VALUES ('a@x.test', 'A', 'admin', 'x', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if count() != 1 {
		t.Fatal("cached statement misses a new row")
	}
	rows, err := d.Query(ctx, `SELECT nom FROM users WHERE email = ?`, "a@x.test")
	if err != nil {
		t.Fatal(err)
	}
	var nom string
	for rows.Next() {
		_ = rows.Scan(&nom)
	}
	rows.Close()
	if nom != "A" {
		t.Fatalf("nom %q", nom)
	}
	if _, err := d.Query(ctx, `SELECT nope FROM users`); err == nil {
		t.Fatal("bad query ran")
	}
	if got := d.CachedStatements(); got != before+2 {
		t.Fatalf("cached statements %d, want %d (the failing query is not kept)", got, before+2)
	}
	if pg := (&db.DB{Dialect: db.Postgres}); pg.CachedStatements() != 0 {
		t.Fatal("PostgreSQL has no statement cache")
	}
}
