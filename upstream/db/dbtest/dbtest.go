// Package dbtest gives tests fresh, migrated databases: always SQLite, and
// PostgreSQL too when HUB_TEST_POSTGRES_URL is set (each test gets its own
// schema, dropped at the end).
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
)

// EnvPostgres names the variable holding the test PostgreSQL URL.
const EnvPostgres = "HUB_TEST_POSTGRES_URL"

// Each runs f as a subtest against a fresh migrated SQLite database and, when
// HUB_TEST_POSTGRES_URL is set, a fresh PostgreSQL schema.
func Each(t *testing.T, f func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		d := Postgres(t)
		f(t, d)
	})
}

// SQLite returns a fresh migrated SQLite database in a temp dir.
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// PostgresURL returns a URL to a fresh, empty schema (dropped at cleanup), or
// skips the test with a visible notice when HUB_TEST_POSTGRES_URL is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip("PostgreSQL tests skipped: set " + EnvPostgres + " to run them")
	}
	admin, err := db.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.DB.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema (is PostgreSQL at %s up?): %v", base, err)
	}
	t.Cleanup(func() {
		a, err := db.Open(base)
		if err == nil {
			_, _ = a.DB.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres returns a fresh migrated PostgreSQL schema (see PostgresURL).
func Postgres(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}
