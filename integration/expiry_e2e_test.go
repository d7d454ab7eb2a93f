package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// TestExpiredKeyRefused: the gateway refuses an API key past its expiry
// and the previous secret of a rotated key past its grace period, both
// when the upstream already says so and when only the record the gateway
// cached (with the expiry in it) can tell.
//
// The binaries have no settable clock and keys live at least a day, so
// the test moves the expiry instead of the time: it rewrites expires_at /
// grace_until in the upstream's database (what a day passing would leave
// there). The "cached" cases give the key a few seconds to live and poll
// for the refusal; the gateway's key cache (5 min) outlives them, so only
// its own expiry check can refuse the key then.
func TestExpiredKeyRefused(t *testing.T) {
	for _, b := range backends {
		if b.redis {
			continue // the resolver's cache is in process whatever the store
		}
		t.Run(b.name, func(t *testing.T) {
			s := newStack(t, b)
			s.createUser("alice@example.com", "conducteur")
			jwt := s.login("alice@example.com", "correct-horse-battery")
			d := s.openDB()
			setTime := func(col, id string, at time.Time) {
				t.Helper()
				res, err := d.Exec(context.Background(), "UPDATE api_keys SET "+col+" = ? WHERE id = ?", db.Micros(at), id)
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := res.RowsAffected(); n != 1 {
					t.Fatalf("update %s of %s: %d rows", col, id, n)
				}
			}
			get := func(key string) response {
				return s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(key)...)
			}
			refusedAs := func(r response, why string) bool {
				return r.status == 401 && strings.Contains(r.header.Get("WWW-Authenticate"), why) &&
					strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json")
			}
			const patience = 60 * time.Second // stops a broken test only

			// Expired before the gateway ever saw it: the upstream says so.
			_, key := s.createKey(jwt, map[string]any{"name": "old", "scopes": []string{"read"}})
			id := strings.Split(key, "_")[1]
			setTime("expires_at", id, time.Now().Add(-time.Minute))
			if r := get(key); !refusedAs(r, "has expired") {
				t.Fatalf("key expired at the upstream: %d %s %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
			}

			// Expires while the gateway holds its record.
			_, key = s.createKey(jwt, map[string]any{"name": "short", "scopes": []string{"read"}})
			id = strings.Split(key, "_")[1]
			expires := time.Now().Add(8 * time.Second)
			setTime("expires_at", id, expires)
			if r := get(key); r.status != 200 {
				t.Fatalf("key before its expiry: %d %s", r.status, r.body)
			}
			eventually(t, patience, "the cached key refused once expired", func() bool {
				r := get(key)
				if r.status == 200 {
					return false
				}
				if !refusedAs(r, "has expired") {
					t.Fatalf("key past its expiry: %d %s %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
				}
				return true
			})
			if time.Now().Before(expires) {
				t.Fatalf("key refused before its expiry (%s)", expires)
			}

			// Rotation: the previous secret after its grace period.
			id, oldKey := s.createKey(jwt, map[string]any{"name": "rotated", "scopes": []string{"read"}})
			r := s.gwDo("POST", "/api/auth/api-keys/"+id+"/rotate", nil, bearer(jwt)...)
			if r.status != 200 {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			newKey, _ := r.json(t)["key"].(string)
			graceEnd := time.Now().Add(8 * time.Second)
			setTime("grace_until", id, graceEnd)
			// The rotation's revocation event makes the gateway forget the
			// key; wait for that before using the old secret, so that the
			// record cached next carries the short grace.
			eventually(t, patience, "the new secret accepted", func() bool { return get(newKey).status == 200 })
			if r := get(oldKey); r.status != 200 {
				t.Fatalf("previous secret within its grace: %d %s", r.status, r.body)
			}
			eventually(t, patience, "the previous secret refused after its grace", func() bool {
				r := get(oldKey)
				if r.status == 200 {
					return false
				}
				if !refusedAs(r, "not valid") {
					t.Fatalf("previous secret past its grace: %d %s %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
				}
				return true
			})
			if time.Now().Before(graceEnd) {
				t.Fatalf("previous secret refused before its grace ended (%s)", graceEnd)
			}
			if r := get(newKey); r.status != 200 {
				t.Fatalf("new secret after the grace: %d %s", r.status, r.body)
			}
			// Grace already over when the gateway first asks.
			id, oldKey = s.createKey(jwt, map[string]any{"name": "rotated2", "scopes": []string{"read"}})
			if r := s.gwDo("POST", "/api/auth/api-keys/"+id+"/rotate", nil, bearer(jwt)...); r.status != 200 {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			setTime("grace_until", id, time.Now().Add(-time.Second))
			eventually(t, patience, "the previous secret refused, grace over at the upstream", func() bool {
				return refusedAs(get(oldKey), "not valid")
			})
		})
	}
}

// openDB opens the stack's upstream database (HUB_DB) for a test to change
// rows behind the upstream's back.
func (s *stack) openDB() *db.DB {
	s.t.Helper()
	dsn := ""
	for _, kv := range s.up.Env {
		if v, ok := strings.CutPrefix(kv, "HUB_DB="); ok {
			dsn = v
		}
	}
	d, err := db.Open(dsn)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = d.Close() })
	return d
}
