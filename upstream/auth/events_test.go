package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/events/eventstest"
)

// TestAPIKeyEvents: rotating and revoking a key write api_key.rotated and
// api_key.revoked to the outbox, scoped to the key's owner, with the
// caller as actor and no secret, in the shape docs/events.md documents;
// a refused rotation writes nothing.
func TestAPIKeyEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		owner := e.users[RoleConducteur]
		r := e.call("POST", "/api/auth/api-keys", map[string]any{"name": "ERP", "scopes": []string{"read"}}, asUser(owner))
		expect(t, r, http.StatusCreated)
		var k Created
		r.json(t, &k)
		expect(t, e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, asUser(owner)), http.StatusOK)
		expect(t, e.call("DELETE", "/api/v1/admin/api-keys/"+k.ID, nil, e.as(RoleAdmin)), http.StatusNoContent)
		expect(t, e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, asUser(owner)), http.StatusConflict)

		rows, err := d.Query(context.Background(), `SELECT type, owner_id, payload FROM events ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		doc := eventstest.Documented(t)
		for rows.Next() {
			var typ, payload string
			var ownerID int64
			if err := rows.Scan(&typ, &ownerID, &payload); err != nil {
				t.Fatal(err)
			}
			got = append(got, typ)
			eventstest.CheckDocumented(t, doc, []byte(payload))
			var ev struct {
				Actor    map[string]string `json:"actor"`
				Resource map[string]string `json:"resource"`
				Data     map[string]any    `json:"data"`
			}
			if err := json.Unmarshal([]byte(payload), &ev); err != nil {
				t.Fatal(err)
			}
			if ownerID != owner.ID || ev.Resource["id"] != k.ID || ev.Resource["type"] != "api_keys" || ev.Data["user_id"].(float64) != float64(owner.ID) {
				t.Errorf("%s: owner %d, %+v", typ, ownerID, ev)
			}
			if _, has := ev.Data["key"]; has {
				t.Errorf("%s carries a key", typ)
			}
			wantActor := strconv.FormatInt(owner.ID, 10)
			if typ == "api_key.revoked" {
				wantActor = strconv.FormatInt(e.users[RoleAdmin].ID, 10)
			}
			if ev.Actor["user_id"] != wantActor {
				t.Errorf("%s: actor %v, want user %s", typ, ev.Actor, wantActor)
			}
		}
		if len(got) != 2 || got[0] != "api_key.rotated" || got[1] != "api_key.revoked" {
			t.Fatalf("events %v", got)
		}
	})
}
