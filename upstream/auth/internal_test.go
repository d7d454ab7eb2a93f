package auth

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func introspect(t *testing.T, e *env, id string) contract.Introspection {
	t.Helper()
	r := e.internal("POST", "/internal/introspect", map[string]string{"key_id": id})
	expect(t, r, 200)
	var in contract.Introspection
	r.json(t, &in)
	return in
}

func TestInternalAuth(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	tests := []struct {
		name, auth string
		code       int
	}{
		{"none", "", 401},
		{"wrong", "Bearer " + string(testSecret[:31]) + "x", 401},
		{"prefix", "Bearer " + string(testSecret[:31]), 401},
		{"basic", "Basic " + string(testSecret), 401},
		{"ok", "Bearer " + string(testSecret), 200},
	}
	for _, tc := range tests {
		for _, path := range []string{"/internal/revocations", "/internal/introspect", "/internal/usage"} {
			method, body := "POST", any(map[string]any{"key_id": "abcdefghijkl"})
			if path == "/internal/revocations" {
				method, body = "GET", nil
			} else if path == "/internal/usage" {
				body = map[string]any{"keys": map[string]string{}}
			}
			r := e.callHeaders(method, path, body, nil, map[string]string{"Authorization": tc.auth})
			want := tc.code
			if want == 200 && path == "/internal/introspect" {
				want = 404
			} else if want == 200 && path == "/internal/usage" {
				want = 204
			}
			if r.Code != want {
				t.Errorf("%s %s: %d, want %d", tc.name, path, r.Code, want)
			}
		}
	}
	// Without a configured secret nothing gets in, not even an empty bearer.
	s, _ := New(context.Background(), e.d, Options{BcryptCost: 4})
	e.h = s.internal(s.handleRevocations)
	if r := e.callHeaders("GET", "/internal/revocations", nil, nil, map[string]string{"Authorization": "Bearer "}); r.Code != 401 {
		t.Errorf("empty secret: %d", r.Code)
	}
}

func TestIntrospect(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		k := createKey(t, e, e.as(RoleOuvrier), map[string]any{"name": "a", "scopes": []string{"read", "pointages:write"},
			"ip_whitelist": []string{"192.0.2.0/24"}, "expires_in_days": 30})
		_, secret, _ := apikey.Parse(k.Key)
		r := e.internal("POST", "/internal/introspect", map[string]string{"key_id": k.ID})
		expect(t, r, 200)
		var raw map[string]any
		r.json(t, &raw)
		for _, f := range []string{"id", "user_id", "role", "scopes", "status", "expires_at", "secrets", "ip_whitelist", "rate_limit"} {
			if _, ok := raw[f]; !ok {
				t.Errorf("missing %s in %s", f, r.Body)
			}
		}
		in := introspect(t, e, k.ID)
		if in.UserID != strconv.FormatInt(e.users[RoleOuvrier].ID, 10) || in.Role != RoleOuvrier || in.Status != StatusActive ||
			!in.Active || len(in.Secrets) != 1 || in.Secrets[0].Hash != apikey.Hash(secret) ||
			!in.Secrets[0].ExpiresAt.Equal(k.ExpiresAt) || fmt.Sprint(in.IPWhitelist) != "[192.0.2.0/24]" {
			t.Fatalf("introspection %+v", in)
		}
		// The role is the owner's current one.
		if _, err := e.s.UpdateUser(context.Background(), e.users[RoleOuvrier].ID, UserPatch{Role: ptr(RoleConducteur)}); err != nil {
			t.Fatal(err)
		}
		if in = introspect(t, e, k.ID); in.Role != RoleConducteur {
			t.Errorf("role %s after change", in.Role)
		}
		e.clock.Add(31 * 24 * time.Hour)
		if in = introspect(t, e, k.ID); in.Status != StatusExpired || len(in.Secrets) != 0 {
			t.Errorf("expired %+v", in)
		}
		for _, id := range []string{"zzzzzzzzzzzz", "bad"} {
			r := e.internal("POST", "/internal/introspect", map[string]string{"key_id": id})
			expect(t, r, 404)
			if string(r.Body) != `{"active":false}` {
				t.Errorf("unknown key: %s", r.Body)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

type feed struct {
	Events  []contract.RevocationEvent `json:"events"`
	LastSeq int64                      `json:"last_seq"`
}

func revocations(t *testing.T, e *env, query string) feed {
	t.Helper()
	r := e.internal("GET", "/internal/revocations"+query, nil)
	expect(t, r, 200)
	var f feed
	r.json(t, &f)
	return f
}

func TestRevocationFeed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		start := revocations(t, e, "")
		if len(start.Events) != 0 {
			t.Fatalf("start %+v", start)
		}
		k := createKey(t, e, e.as(RoleConducteur), map[string]any{"name": "a", "scopes": []string{"read"}})
		expect(t, e.call("POST", "/api/auth/api-keys/"+k.ID+"/rotate", nil, e.as(RoleConducteur)), 200)
		expect(t, e.call("DELETE", "/api/auth/api-keys/"+k.ID, nil, e.as(RoleConducteur)), 204)
		expect(t, e.call("DELETE", fmt.Sprint("/api/v1/users/", e.users[RoleOuvrier].ID), nil, e.as(RoleAdmin)), 204)

		f := revocations(t, e, fmt.Sprint("?since=", start.LastSeq))
		want := []string{"api_key " + k.ID, "api_key " + k.ID, fmt.Sprint("user ", e.users[RoleOuvrier].ID)}
		if len(f.Events) != len(want) {
			t.Fatalf("events %+v", f.Events)
		}
		for i, ev := range f.Events {
			if got := ev.Kind + " " + ev.ID; got != want[i] || ev.At.IsZero() || (i > 0 && ev.Seq <= f.Events[i-1].Seq) {
				t.Errorf("event %d: %+v, want %s", i, ev, want[i])
			}
		}
		if f.LastSeq != f.Events[2].Seq {
			t.Errorf("last_seq %d", f.LastSeq)
		}
		if again := revocations(t, e, fmt.Sprint("?since=", f.LastSeq)); len(again.Events) != 0 || again.LastSeq != f.LastSeq {
			t.Errorf("caught up: %+v", again)
		}
		// A gateway that has seen nothing gets the events still able to
		// matter (a token revoked before it started stays refused), and
		// nothing older than the replay window.
		if r := revocations(t, e, "?since=-1"); r.LastSeq != f.LastSeq || len(r.Events) != len(want) || r.Events[0].Seq != f.Events[0].Seq {
			t.Errorf("since=-1, recent events: %+v", r)
		}
		e.clock.Add(e.s.replayWindow() + time.Second)
		if r := revocations(t, e, "?since=-1"); r.LastSeq != f.LastSeq || len(r.Events) != 0 {
			t.Errorf("since=-1, events past the replay window: %+v", r)
		}
		for _, q := range []string{"?since=x", "?since=-2", "?since=0&wait=31", "?since=0&wait=-1", "?since=0&wait=1.5"} {
			expect(t, e.internal("GET", "/internal/revocations"+q, nil), 400)
		}
	})
}

// TestRevocationLongPoll synchronises on events, not on the wall clock: it
// publishes only once the long-poll has read the feed and is waiting (the
// feedParked hook), and it tells "woken by the event" from "woken by the
// database re-read" by stretching that re-read to an hour, not by timing.
func TestRevocationLongPoll(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		// Events of another instance reach this one only by the database.
		other, err := New(context.Background(), d, Options{BcryptCost: 4})
		if err != nil {
			t.Fatal(err)
		}
		parked := make(chan struct{}, 1)
		e.s.feedParked = func() {
			select {
			case parked <- struct{}{}:
			default:
			}
		}
		const patience = 20 * time.Second // only stops a broken test; wait=30 below
		for _, c := range []struct {
			name      string
			publisher *Service
			poll      time.Duration
		}{
			// Same instance: the publication itself wakes the poll; the
			// database is not re-read within the test.
			{"same instance", e.s, time.Hour},
			// Another instance: only the periodic re-read can see it.
			{"other instance", other, 0},
		} {
			e.s.feedPoll = c.poll
			select {
			case <-parked:
			default:
			}
			last := revocations(t, e, "").LastSeq
			done := make(chan resp, 1)
			go func() { done <- e.internal("GET", fmt.Sprint("/internal/revocations?since=", last, "&wait=30"), nil) }()
			select {
			case <-parked:
			case r := <-done:
				t.Fatalf("%s: returned before any event: %d %s", c.name, r.Code, r.Body)
			case <-time.After(patience):
				t.Fatalf("%s: the long-poll never started waiting", c.name)
			}
			if err := c.publisher.Publish(context.Background(), KindToken, "jti-"+c.name); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				expect(t, r, 200)
				var f feed
				r.json(t, &f)
				if len(f.Events) != 1 || f.Events[0].Kind != KindToken || f.Events[0].ID != "jti-"+c.name || f.LastSeq != f.Events[0].Seq {
					t.Errorf("%s: feed %+v", c.name, f)
				}
			case <-time.After(patience):
				t.Fatalf("%s: the long-poll did not return after the event", c.name)
			}
		}
		// wait expires with nothing new (a lower bound only: a slow host
		// cannot make it fail).
		e.s.feedPoll = 0
		begin := time.Now()
		last := revocations(t, e, "").LastSeq
		f := revocations(t, e, fmt.Sprint("?since=", last, "&wait=1"))
		if len(f.Events) != 0 || f.LastSeq != last || time.Since(begin) < time.Second {
			t.Errorf("timeout: %+v after %v", f, time.Since(begin))
		}
	})
}

func TestUsage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		k := createKey(t, e, e.as(RoleConducteur), map[string]any{"name": "a", "scopes": []string{"read"}})
		now := e.clock.Now()
		report := func(at time.Time) {
			t.Helper()
			r := e.internal("POST", "/internal/usage", map[string]any{"keys": map[string]string{
				k.ID: at.Format(time.RFC3339), "zzzzzzzzzzzz": at.Format(time.RFC3339)}})
			expect(t, r, 204)
		}
		lastUsed := func() time.Time {
			keys, _ := e.s.ListAPIKeys(context.Background(), e.users[RoleConducteur].ID)
			if keys[0].LastUsedAt == nil {
				return time.Time{}
			}
			return *keys[0].LastUsedAt
		}
		report(now.Add(-time.Minute))
		if !lastUsed().Equal(now.Add(-time.Minute)) {
			t.Errorf("last used %v", lastUsed())
		}
		report(now.Add(-time.Hour)) // older report from a slower gateway: kept at the max
		if !lastUsed().Equal(now.Add(-time.Minute)) {
			t.Errorf("last used went back to %v", lastUsed())
		}
		report(now.Add(time.Hour)) // future: clamped to now
		if !lastUsed().Equal(now) {
			t.Errorf("last used %v, want now", lastUsed())
		}
		r := e.internal("POST", "/internal/usage", map[string]any{"keys": map[string]string{k.ID: "yesterday"}})
		expect(t, r, 400)
	})
}
