package db_test

import (
	"context"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestBeginNestsInTheContextTransaction: inside an atomic batch's
// transaction (WithTx), Begin is a savepoint: its commit is undone with
// the outer rollback, its rollback undoes only its own writes, and no
// second transaction (which on SQLite would wait for the outer one's
// write lock) is opened.
func TestBeginNestsInTheContextTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Exec(ctx, `CREATE TABLE nest_t (v INTEGER)`); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			var n int
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM nest_t`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		insert := func(ctx context.Context, commit bool) {
			t.Helper()
			tx, err := d.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO nest_t (v) VALUES (?)`), 1); err != nil {
				t.Fatal(err)
			}
			if commit {
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
		}
		outer, err := d.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		in := db.WithTx(ctx, outer)
		insert(in, true)  // kept by the savepoint…
		insert(in, false) // …this one undone alone
		var inside int
		if err := d.QueryRow(in, `SELECT COUNT(*) FROM nest_t`).Scan(&inside); err != nil || inside != 1 {
			t.Fatalf("inside the outer transaction: %d rows (%v), want 1", inside, err)
		}
		if err := outer.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Fatalf("after the outer rollback: %d rows, want 0", n)
		}
		insert(ctx, true) // no outer transaction: a real one
		if n := count(); n != 1 {
			t.Fatalf("plain transaction: %d rows, want 1", n)
		}
	})
}
