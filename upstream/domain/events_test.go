package domain

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/events/eventstest"
)

// outbox returns the events stored, oldest first.
func outbox(t *testing.T, d *db.DB) []map[string]any {
	t.Helper()
	rows, err := d.Query(context.Background(), `SELECT payload FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(p), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func types(evs []map[string]any) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i], _ = e["type"].(string)
	}
	return out
}

// emitAll makes one write of each kind that emits an event, and some that
// must not, and returns the events stored.
func emitAll(t *testing.T, d *db.DB) []map[string]any {
	h := newHarness(t, d)
	admin := h.user("admin@x.fr", "Admin", "admin")
	worker := h.user("w@x.fr", "Ouvrier", "ouvrier")
	ch := h.create("chantiers", map[string]any{"nom": "Tour A", "responsable_id": admin})
	h.ok(http.StatusOK, "PATCH", path("chantiers", ch), map[string]any{"statut": "en_cours"})
	// Refused writes emit nothing: a validation error, a failed If-Match.
	h.ok(http.StatusBadRequest, "POST", "/api/v1/chantiers", map[string]any{"nom": ""})
	h.ok(http.StatusPreconditionFailed, "PATCH", path("chantiers", ch), map[string]any{"nom": "B"}, "If-Match", `"v99"`)
	h.create("signalements", map[string]any{"chantier_id": ch, "titre": "Fuite", "urgent": true})
	pt := h.create("pointages", map[string]any{"chantier_id": ch, "user_id": worker, "date": "2025-03-03", "heures": 8})
	h.ok(http.StatusOK, "PATCH", path("pointages", pt), map[string]any{"commentaire": "no event"})
	h.ok(http.StatusOK, "PATCH", path("pointages", pt), map[string]any{"valide": true})
	h.ok(http.StatusOK, "PATCH", path("pointages", pt), map[string]any{"commentaire": "still valid: no event"})
	af := h.create("affectations", map[string]any{"chantier_id": ch, "user_id": worker, "date_debut": "2025-03-01"})
	h.ok(http.StatusOK, "PATCH", path("affectations", af), map[string]any{"role_chantier": "chef"})
	h.create("documents", map[string]any{"chantier_id": ch, "nom": "plan.pdf"})
	h.do("DELETE", path("affectations", af), nil)
	// A delete refused because rows still refer to the chantier emits nothing.
	h.ok(http.StatusConflict, "DELETE", path("chantiers", ch), nil)
	return outbox(t, d)
}

// TestDomainEvents: every write of docs/events.md emits its event with
// the write (one each, none for refused writes or non-validating pointage
// updates), with the actor, the resource and the representation written.
func TestDomainEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		evs := emitAll(t, d)
		want := []string{"chantier.created", "chantier.updated", "signalement.created", "pointage.created",
			"pointage.validated", "affectation.created", "affectation.updated", "document.created", "affectation.deleted"}
		if got := types(evs); !reflect.DeepEqual(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		ids := map[string]bool{}
		for _, e := range evs {
			id, _ := e["id"].(string)
			if !regexp.MustCompile(`^evt_[0-9a-z]{26}$`).MatchString(id) || ids[id] {
				t.Errorf("bad or repeated id %q", id)
			}
			ids[id] = true
			if a := e["actor"].(map[string]any); a["type"] != "user" || a["user_id"] != "1" || a["via"] != "jwt" {
				t.Errorf("%s: actor %v", e["type"], a)
			}
		}
		sig := evs[2]["data"].(map[string]any)
		if sig["urgent"] != true || sig["titre"] != "Fuite" {
			t.Errorf("signalement.created data %v", sig)
		}
		if r := evs[0]["resource"].(map[string]any); r["type"] != "chantiers" || r["id"] == "" {
			t.Errorf("resource %v", r)
		}
		if v := evs[4]["data"].(map[string]any); v["valide"] != true {
			t.Errorf("pointage.validated data %v", v)
		}
		if del := evs[8]["data"].(map[string]any); len(del) != 1 || del["id"] == nil {
			t.Errorf("affectation.deleted data %v", del)
		}
	})
}

// TestDocumentedSchema: each domain event emitted has exactly the shape
// docs/events.md documents for its type (same members, same JSON kinds,
// recursively), so the document cannot drift from what is sent.
func TestDocumentedSchema(t *testing.T) {
	d := dbtest.SQLite(t)
	emitAll(t, d)
	doc := eventstest.Documented(t)
	rows, err := d.Query(context.Background(), `SELECT payload FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		seen[eventstest.CheckDocumented(t, doc, []byte(p))] = true
	}
	if len(seen) < 9 {
		t.Errorf("only %d types checked", len(seen))
	}
}
