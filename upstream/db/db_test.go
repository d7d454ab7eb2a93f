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
