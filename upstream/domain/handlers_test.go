package domain

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func TestCRUDChantier(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		resp := h.user("conducteur@example.com", "Claire Martin", "conducteur")

		w := h.do("POST", "/api/v1/chantiers", map[string]any{
			"nom": "Résidence Les Tilleuls", "adresse": "12 rue des Tilleuls, 69003 Lyon",
			"date_debut": "2025-03-01", "date_fin": "2025-12-31", "responsable_id": resp, "budget": 2450000.5,
		})
		if w.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", w.Code, w.Body)
		}
		loc := w.Header().Get("Location")
		if !strings.HasPrefix(loc, "/api/v1/chantiers/") || w.Header().Get("ETag") != `"v1"` {
			t.Fatalf("Location %q ETag %q", loc, w.Header().Get("ETag"))
		}
		body := w.Body.String()
		for _, want := range []string{`"statut":"planifie"`, `"version":1`, `"client":null`, `"budget":2450000.5`, `"created_at":"2025-03-01T08:00:00Z"`} {
			if !strings.Contains(body, want) {
				t.Errorf("create body lacks %s: %s", want, body)
			}
		}
		if !strings.HasPrefix(body, `{"id":`) {
			t.Errorf("members out of order: %s", body)
		}

		w = h.do("GET", loc, nil)
		if w.Code != http.StatusOK || w.Header().Get("ETag") != `"v1"` {
			t.Fatalf("get: %d %q", w.Code, w.Header().Get("ETag"))
		}

		// PUT replaces: absent optional fields become null, defaults reapply.
		m := h.ok(http.StatusOK, "PUT", loc, map[string]any{"nom": "Les Tilleuls", "statut": "en_cours"})
		if m["adresse"] != nil || m["statut"] != "en_cours" || m["version"] != 2.0 || m["responsable_id"] != nil {
			t.Fatalf("put: %v", m)
		}

		// PATCH merges: null clears, absent keeps.
		h.ok(http.StatusOK, "PATCH", loc, map[string]any{"client": "OPAC", "budget": 10})
		w = h.do("PATCH", loc, `{"client": null}`, "Content-Type", "application/merge-patch+json")
		if w.Code != http.StatusOK || w.Header().Get("ETag") != `"v4"` {
			t.Fatalf("patch: %d %s", w.Code, w.Body)
		}
		m = h.ok(http.StatusOK, "GET", loc, nil)
		if m["client"] != nil || m["budget"] != 10.0 || m["nom"] != "Les Tilleuls" || m["version"] != 4.0 {
			t.Fatalf("after patch: %v", m)
		}
		// A null on a field with a default resets it.
		if m := h.ok(http.StatusOK, "PATCH", loc, `{"statut": null}`); m["statut"] != "planifie" {
			t.Fatalf("statut reset: %v", m)
		}

		// Read-only members sent back are ignored.
		m["nom"] = "Renommé"
		if m := h.ok(http.StatusOK, "PUT", loc, m); m["nom"] != "Renommé" || m["version"] != 6.0 {
			t.Fatalf("round trip put: %v", m)
		}

		h.ok(http.StatusNoContent, "DELETE", loc, nil)
		h.ok(http.StatusNotFound, "GET", loc, nil)
		h.ok(http.StatusNotFound, "DELETE", loc, nil)
		h.ok(http.StatusNotFound, "PATCH", loc, map[string]any{})
		h.ok(http.StatusNotFound, "PUT", loc, map[string]any{"nom": "x"})
		h.ok(http.StatusNotFound, "GET", "/api/v1/chantiers/abc", nil)
	})
}

func TestValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		uid := h.user("ouvrier@example.com", "Paul", "ouvrier")
		cid := h.create("chantiers", map[string]any{"nom": "C"})
		tests := []struct {
			name, method, path string
			body               any
			want               int
			fields             []string
		}{
			{"missing nom", "POST", "/api/v1/chantiers", map[string]any{"adresse": "x"}, 400, []string{"nom"}},
			{"blank nom", "POST", "/api/v1/chantiers", map[string]any{"nom": "  "}, 400, []string{"nom"}},
			{"long nom", "POST", "/api/v1/chantiers", map[string]any{"nom": strings.Repeat("é", 201)}, 400, []string{"nom"}},
			{"bad statut", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "statut": "fini"}, 400, []string{"statut"}},
			{"bad date", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "date_debut": "2025-02-30"}, 400, []string{"date_debut"}},
			{"fin before debut", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "date_debut": "2025-05-01", "date_fin": "2025-04-30"}, 400, []string{"date_fin"}},
			{"negative budget", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "budget": -1}, 400, []string{"budget"}},
			{"budget as string", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "budget": "12"}, 400, []string{"budget"}},
			{"unknown field", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "couleur": "bleu"}, 400, []string{"couleur"}},
			{"nom as number", "POST", "/api/v1/chantiers", map[string]any{"nom": 12}, 400, []string{"nom"}},
			{"missing responsable", "POST", "/api/v1/chantiers", map[string]any{"nom": "a", "responsable_id": 9999}, 400, []string{"responsable_id"}},
			{"several errors", "POST", "/api/v1/chantiers", map[string]any{"statut": "x", "budget": -2}, 400, []string{"budget", "nom", "statut"}},
			{"array body", "POST", "/api/v1/chantiers", "[1]", 400, nil},
			{"broken json", "POST", "/api/v1/chantiers", `{"nom":`, 400, nil},
			{"zero heures", "POST", "/api/v1/pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-03", "heures": 0}, 400, []string{"heures"}},
			{"25 heures", "POST", "/api/v1/pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-03", "heures": 25}, 400, []string{"heures"}},
			{"pointage fks", "POST", "/api/v1/pointages", map[string]any{"chantier_id": 777, "user_id": 888, "date": "2025-03-03", "heures": 8}, 400, []string{"chantier_id", "user_id"}},
			{"pointage type", "POST", "/api/v1/pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-03", "heures": 8, "type": "jour"}, 400, []string{"type"}},
			{"valide as string", "POST", "/api/v1/pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-03", "heures": 8, "valide": "oui"}, 400, []string{"valide"}},
			{"chantier_id fraction", "POST", "/api/v1/documents", map[string]any{"chantier_id": 1.5, "nom": "plan.pdf"}, 400, []string{"chantier_id"}},
			{"negative taille", "POST", "/api/v1/documents", map[string]any{"chantier_id": cid, "nom": "plan.pdf", "taille": -1}, 400, []string{"taille"}},
			{"bad categorie", "POST", "/api/v1/documents", map[string]any{"chantier_id": cid, "nom": "p", "categorie": "video"}, 400, []string{"categorie"}},
			{"missing titre", "POST", "/api/v1/signalements", map[string]any{"chantier_id": cid}, 400, []string{"titre"}},
			{"bad gravite", "POST", "/api/v1/signalements", map[string]any{"chantier_id": cid, "titre": "t", "gravite": "extreme"}, 400, []string{"gravite"}},
			{"affectation dates", "POST", "/api/v1/affectations", map[string]any{"chantier_id": cid, "user_id": uid, "date_debut": "2025-05-01", "date_fin": "2025-01-01"}, 400, []string{"date_fin"}},
			{"put needs nom", "PUT", path("chantiers", cid), map[string]any{"adresse": "x"}, 400, []string{"nom"}},
			{"patch null required", "PATCH", path("chantiers", cid), map[string]any{"nom": nil}, 400, []string{"nom"}},
			{"patch bad fk", "PATCH", path("chantiers", cid), map[string]any{"responsable_id": 4242}, 400, []string{"responsable_id"}},
			{"ok pointage", "POST", "/api/v1/pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-03", "heures": 24}, 201, nil},
			{"ok document", "POST", "/api/v1/documents", map[string]any{"chantier_id": cid, "nom": "plan.pdf", "taille": 12.0}, 201, nil},
			{"ok signalement", "POST", "/api/v1/signalements", map[string]any{"chantier_id": cid, "titre": "Fuite", "urgent": true}, 201, nil},
			{"ok affectation", "POST", "/api/v1/affectations", map[string]any{"chantier_id": cid, "user_id": uid, "date_debut": "2025-05-01"}, 201, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := h.do(tt.method, tt.path, tt.body)
				if w.Code != tt.want {
					t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
				}
				if tt.want != 400 {
					return
				}
				typ, fields := problemFields(t, w)
				if typ != "urn:hubchantier:problem:validation" {
					t.Errorf("type %q", typ)
				}
				slices.Sort(fields)
				if tt.fields != nil && !slices.Equal(fields, tt.fields) {
					t.Errorf("fields %v, want %v: %s", fields, tt.fields, w.Body)
				}
			})
		}
		// Defaults of the other resources.
		m := h.ok(201, "POST", "/api/v1/signalements", map[string]any{"chantier_id": cid, "titre": "t"})
		if m["statut"] != "ouvert" || m["urgent"] != false || m["gravite"] != "moyenne" {
			t.Fatalf("signalement defaults: %v", m)
		}
		m = h.ok(201, "POST", "/api/v1/pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-04", "heures": 7.5})
		if m["type"] != "normal" || m["valide"] != false || m["heures"] != 7.5 {
			t.Fatalf("pointage defaults: %v", m)
		}
	})
}

func TestAuthAndRoutes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		uid := h.user("a@example.com", "Alice", "admin")
		h.user("o@example.com", "Omar", "ouvrier")

		// Users are listed without password_hash, filterable by role.
		w := h.do("GET", "/api/v1/users?role=ouvrier", nil)
		if w.Code != 200 || strings.Contains(w.Body.String(), "password") || strings.Contains(w.Body.String(), "secret-hash") {
			t.Fatalf("users: %d %s", w.Code, w.Body)
		}
		if !strings.Contains(w.Body.String(), `"nom":"Omar"`) || strings.Contains(w.Body.String(), "Alice") {
			t.Fatalf("role filter: %s", w.Body)
		}
		m := h.ok(200, "GET", path("users", uid), nil)
		if m["email"] != "a@example.com" || m["role"] != "admin" || m["active"] != true || len(m) != 8 {
			t.Fatalf("user: %v", m)
		}
		// No write routes on users.
		for _, method := range []string{"PUT", "PATCH", "DELETE"} {
			if w := h.do(method, path("users", uid), map[string]any{}); w.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s user: %d", method, w.Code)
			}
		}

		// Anonymous callers and missing identities get 401.
		for _, who := range []*assertion.Claims{nil, {Method: "anonymous"}} {
			h.who = who
			for _, p := range []string{"/api/v1/chantiers", "/api/v1/users", "/api/v1/stats", "/api/v1/planning"} {
				if w := h.do("GET", p, nil); w.Code != http.StatusUnauthorized {
					t.Errorf("anonymous GET %s: %d", p, w.Code)
				}
			}
			if w := h.do("POST", "/api/v1/chantiers", map[string]any{"nom": "x"}); w.Code != http.StatusUnauthorized {
				t.Errorf("anonymous POST: %d", w.Code)
			}
		}
	})
}

func TestDeleteRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		h := newHarness(t, d)
		uid := h.user("o@example.com", "Omar", "ouvrier")
		cid := h.create("chantiers", map[string]any{"nom": "C"})
		doc := h.create("documents", map[string]any{"chantier_id": cid, "nom": "plan.pdf"})
		pid := h.create("pointages", map[string]any{"chantier_id": cid, "user_id": uid, "date": "2025-03-03", "heures": 8})

		// Pointages are never deleted by cascade: 409 while one exists.
		w := h.do("DELETE", path("chantiers", cid), nil)
		if typ, _ := problemFields(t, w); w.Code != http.StatusConflict || typ != "urn:hubchantier:problem:conflict" {
			t.Fatalf("delete chantier with pointages: %d %s", w.Code, w.Body)
		}
		h.ok(204, "DELETE", path("pointages", pid), nil)
		h.ok(204, "DELETE", path("chantiers", cid), nil)
		// Documents went with their chantier.
		h.ok(404, "GET", path("documents", doc), nil)
	})
}
