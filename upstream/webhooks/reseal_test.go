package webhooks

import (
	"bytes"
	"context"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestResealMovesSecretsToTheNewKey: during a rollover (the old key given
// as an OpenKey) Reseal re-encrypts every stored secret under the new key,
// so the new key alone opens them afterwards; a second run changes
// nothing.
func TestResealMovesSecretsToTheNewKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Options{}) // key {7…}
		st, m := f.do(2, "POST", "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}})
		if st != 201 {
			t.Fatalf("create: %d %v", st, m)
		}
		id, secret := m["id"].(string), m["secret"].(string)
		oldKey, newKey := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{8}, 32)
		rolled, err := New(d, newKey, Options{OpenKeys: [][]byte{oldKey}})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := rolled.Reseal(context.Background()); err != nil || n != 1 {
			t.Fatalf("Reseal: %d %v, want 1", n, err)
		}
		if n, err := rolled.Reseal(context.Background()); err != nil || n != 0 {
			t.Fatalf("second Reseal: %d %v, want 0", n, err)
		}
		var enc string
		if err := d.QueryRow(context.Background(), `SELECT secret_enc FROM webhooks WHERE id = ?`, id).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		after, err := New(d, newKey, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := after.seal.open(id, enc); err != nil || got != secret {
			t.Fatalf("the new key alone: %v (same secret: %v)", err, got == secret)
		}
	})
}
