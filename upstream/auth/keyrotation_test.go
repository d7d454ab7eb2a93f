package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/events/eventstest"
)

// TestScheduledRotation: a key with auto_rotate is rotated by RotateDue
// once its interval has passed (api_key.rotated by the system, no secret),
// its owner claims the new key once, both secrets work during the grace
// period; a key without auto_rotate gets one api_key.expiring 14 days
// before it expires, in the documented shape.
func TestScheduledRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		owner := e.users[RoleConducteur]
		r := e.call("POST", "/api/auth/api-keys", map[string]any{"name": "ERP", "scopes": []string{"read"}, "auto_rotate": true, "rotation_interval_days": 30}, asUser(owner))
		expect(t, r, http.StatusCreated)
		var auto Created
		r.json(t, &auto)
		if !auto.AutoRotate || auto.RotationIntervalDays != 30 || auto.LastRotatedAt != nil {
			t.Fatalf("created %+v", auto.KeyInfo)
		}
		r = e.call("POST", "/api/auth/api-keys", map[string]any{"name": "Script", "scopes": []string{"read"}, "expires_in_days": 20}, asUser(owner))
		expect(t, r, http.StatusCreated)
		var plain Created
		r.json(t, &plain)

		if n, m, err := e.s.RotateDue(ctx); err != nil || n != 0 || m != 0 {
			t.Fatalf("day 0: rotated %d, notified %d, %v", n, m, err)
		}
		expect(t, e.call("POST", "/api/auth/api-keys/"+auto.ID+"/claim", nil, asUser(owner)), http.StatusConflict)
		e.clock.Add(7 * 24 * time.Hour) // Script expires in 13 days
		if n, m, err := e.s.RotateDue(ctx); err != nil || n != 0 || m != 1 {
			t.Fatalf("day 7: rotated %d, notified %d, %v", n, m, err)
		}
		if _, m, _ := e.s.RotateDue(ctx); m != 0 {
			t.Fatal("api_key.expiring emitted twice")
		}
		e.clock.Add(23 * 24 * time.Hour) // day 30
		if n, _, err := e.s.RotateDue(ctx); err != nil || n != 1 {
			t.Fatalf("day 30: rotated %d, %v", n, err)
		}
		if n, _, _ := e.s.RotateDue(ctx); n != 0 {
			t.Fatal("rotated twice in one period")
		}
		var secretHash, graceHash string
		if err := d.QueryRow(ctx, `SELECT secret_hash, grace_hash FROM api_keys WHERE id = ?`, auto.ID).Scan(&secretHash, &graceHash); err != nil {
			t.Fatal(err)
		}
		_, oldSecret, _ := apikey.Parse(auto.Key)
		if !apikey.Match(oldSecret, graceHash) {
			t.Fatal("the previous secret is not kept for the grace period")
		}
		r = e.call("POST", "/api/auth/api-keys/"+auto.ID+"/claim", nil, asUser(owner))
		expect(t, r, http.StatusOK)
		var claimed Created
		r.json(t, &claimed)
		if claimed.Key == "" || claimed.Key == auto.Key || !strings.HasPrefix(claimed.Key, apikey.Prefix) || claimed.LastRotatedAt == nil ||
			claimed.ExpiresAt.Before(auto.ExpiresAt) || claimed.RotatedKeyPending {
			t.Fatalf("claimed %+v", claimed)
		}
		if _, newSecret, _ := apikey.Parse(claimed.Key); !apikey.Match(newSecret, secretHash) {
			t.Fatal("the claimed key is not the key's current secret")
		}
		expect(t, e.call("POST", "/api/auth/api-keys/"+auto.ID+"/claim", nil, asUser(owner)), http.StatusConflict)
		other := e.users[RoleAdmin]
		expect(t, e.call("POST", "/api/auth/api-keys/"+auto.ID+"/claim", nil, asUser(other)), http.StatusNotFound)

		rows, err := d.Query(ctx, `SELECT type, owner_id, payload FROM events ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		doc := eventstest.Documented(t)
		var got []string
		for rows.Next() {
			var typ, payload string
			var ownerID int64
			if err := rows.Scan(&typ, &ownerID, &payload); err != nil {
				t.Fatal(err)
			}
			got = append(got, typ)
			if typ == "api_key.expiring" {
				eventstest.CheckDocumented(t, doc, []byte(payload))
			}
			if strings.Contains(payload, "hbc_") || ownerID != owner.ID || !strings.Contains(payload, `"actor":{"type":"system"}`) {
				t.Errorf("%s: %s", typ, payload)
			}
			var ev struct{ Resource map[string]string }
			_ = json.Unmarshal([]byte(payload), &ev)
			want := map[string]string{"api_key.expiring": plain.ID, "api_key.rotated": auto.ID}[typ]
			if ev.Resource["id"] != want {
				t.Errorf("%s about %s, want %s", typ, ev.Resource["id"], want)
			}
		}
		if len(got) != 2 || got[0] != "api_key.expiring" || got[1] != "api_key.rotated" {
			t.Fatalf("events %v", got)
		}
	})
}
