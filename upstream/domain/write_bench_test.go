package domain

import (
	"net/http"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// BenchmarkCreateChantier is one POST /api/v1/chantiers on SQLite: the
// cost of a write, its transaction and (since the outbox) its event row.
func BenchmarkCreateChantier(b *testing.B) {
	h := newHarness(b, dbtest.SQLite(b))
	body := map[string]any{"nom": "Tour A", "adresse": "1 rue"}
	b.ResetTimer()
	for range b.N {
		if w := h.do("POST", "/api/v1/chantiers", body); w.Code != http.StatusCreated {
			b.Fatalf("status %d", w.Code)
		}
	}
}
