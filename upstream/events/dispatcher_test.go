package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// recorder is a Target for these tests: every subscriber in subs wants
// every event; answers decides each attempt's outcome.
type recorder struct {
	mu      sync.Mutex
	subs    []string
	got     map[string]int // "sub/event id" → attempts seen
	answers func(sub string, attempt int) Outcome
}

func (r *recorder) Kind() string { return "test" }

func (r *recorder) Subscribers(ctx context.Context, tx *sql.Tx, ev Stored) ([]string, error) {
	return r.subs, nil
}

func (r *recorder) Deliver(ctx context.Context, d Delivery, ev Stored) Outcome {
	var env Event
	if err := json.Unmarshal(ev.Payload, &env); err != nil || env.ID != d.EventID {
		return Outcome{Err: "bad payload"}
	}
	r.mu.Lock()
	r.got[d.TargetID+"/"+d.EventID]++
	r.mu.Unlock()
	if r.answers != nil {
		return r.answers(d.TargetID, d.Attempt)
	}
	return Outcome{OK: true, Status: 200}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// appendN commits n events, one transaction each.
func appendN(t *testing.T, d *db.DB, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		tx, err := d.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ev := New(ChantierCreated, time.Now(), System, Resource{Type: "chantiers", ID: IntID(int64(i + 1))}, map[string]any{"id": i + 1})
		if err := Append(context.Background(), d, tx, ev); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		ids[i] = ev.ID
	}
	return ids
}

func statusCounts(t *testing.T, d *db.DB) map[string]int {
	t.Helper()
	rows, err := d.Query(context.Background(), `SELECT status, COUNT(*) FROM event_deliveries GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRolledBackEventIsNeverDispatched: an event appended in a transaction
// that rolls back does not exist.
func TestRolledBackEventIsNeverDispatched(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		tx, err := d.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := Append(context.Background(), d, tx, New(ChantierDeleted, time.Now(), System, Resource{"chantiers", "1"}, nil)); err != nil {
			t.Fatal(err)
		}
		_ = tx.Rollback()
		p := NewDispatcher(d, Options{})
		p.Register(&recorder{subs: []string{"a"}, got: map[string]int{}})
		if n, err := p.FanOut(context.Background()); err != nil || n != 0 {
			t.Fatalf("fan-out %d, %v; want nothing", n, err)
		}
	})
}

// TestSeveralDispatchersDeliverEachOnce: three dispatchers on one database
// (PostgreSQL: SKIP LOCKED; SQLite: its write lock) fan out and deliver
// every (event, subscriber) pair, none twice when nothing fails.
func TestSeveralDispatchersDeliverEachOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ids := appendN(t, d, 60)
		rec := &recorder{subs: []string{"a", "b"}, got: map[string]int{}}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			p := NewDispatcher(d, Options{Poll: 5 * time.Millisecond, Batch: 7, Workers: 4})
			p.Register(rec)
			wg.Add(1)
			go func() { defer wg.Done(); p.Run(ctx) }()
		}
		waitFor(t, "every delivery", func() bool { return statusCounts(t, d)["succeeded"] == 2*len(ids) })
		cancel()
		wg.Wait()
		if rec.count() != 2*len(ids) {
			t.Fatalf("%d pairs delivered, want %d", rec.count(), 2*len(ids))
		}
		for k, n := range rec.got {
			if n != 1 {
				t.Errorf("%s delivered %d times", k, n)
			}
		}
	})
}

// TestRetriesThenGivesUp: failures are retried with backoff; a delivery
// whose next retry falls beyond the retry window is failed; a dropped
// subscriber fails at once; a deferred one is tried again without
// counting an attempt.
func TestRetriesThenGivesUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		appendN(t, d, 1)
		var mu sync.Mutex
		deferred := 0
		rec := &recorder{subs: []string{"flaky", "dead", "gone", "busy"}, got: map[string]int{}}
		rec.answers = func(sub string, attempt int) Outcome {
			switch sub {
			case "flaky":
				if attempt < 3 {
					return Outcome{Status: 503, Err: "endpoint answered 503"}
				}
				return Outcome{OK: true, Status: 204}
			case "gone":
				return Outcome{Drop: true, Err: "deleted"}
			case "busy":
				mu.Lock()
				defer mu.Unlock()
				deferred++
				if deferred < 3 {
					return Outcome{Defer: time.Millisecond, Err: "breaker open"}
				}
				if attempt != 1 {
					return Outcome{Err: "deferrals counted as attempts"}
				}
				return Outcome{OK: true, Status: 200}
			}
			return Outcome{Status: 500, Err: "endpoint answered 500"}
		}
		// The dispatcher's clock advances 10 ms per reading, whatever the
		// machine's load: the retry window is counted in its steps, not in
		// real time (a loaded machine once made the first attempt late).
		var tick atomic.Int64
		base := time.Now()
		clock := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * 10 * time.Millisecond) }
		p := NewDispatcher(d, Options{Poll: 5 * time.Millisecond, BackoffBase: 2 * time.Millisecond, RetryWindow: time.Second, Now: clock})
		p.Register(rec)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx) }()
		waitFor(t, "every delivery settled", func() bool {
			c := statusCounts(t, d)
			return c["succeeded"] == 2 && c["failed"] == 2
		})
		cancel()
		<-done
		var attempts int
		var lastStatus sql.NullInt64
		if err := d.QueryRow(context.Background(), `SELECT attempts, last_status FROM event_deliveries WHERE target_id = 'flaky'`).Scan(&attempts, &lastStatus); err != nil {
			t.Fatal(err)
		}
		if attempts != 3 || lastStatus.Int64 != 204 {
			t.Errorf("flaky: %d attempts, last status %v; want 3, 204", attempts, lastStatus)
		}
		if err := d.QueryRow(context.Background(), `SELECT attempts FROM event_deliveries WHERE target_id = 'dead'`).Scan(&attempts); err != nil {
			t.Fatal(err)
		}
		if attempts < 2 {
			t.Errorf("dead: %d attempts before giving up; want retries", attempts)
		}
		list, err := Deliveries(context.Background(), d, "test", "dead", 0, 10)
		if err != nil || len(list) != 1 || list[0].Status != "failed" || list[0].LastError != "endpoint answered 500" || *list[0].LastStatus != 500 {
			t.Fatalf("delivery log of dead: %+v, %v", list, err)
		}
		// Manual redelivery queues the same event again, due now.
		nid, err := Redeliver(context.Background(), d, "test", "dead", list[0].ID, time.Now())
		if err != nil || nid == list[0].ID {
			t.Fatalf("redeliver: %d, %v", nid, err)
		}
		if _, err := Redeliver(context.Background(), d, "test", "flaky", list[0].ID, time.Now()); err != ErrNoDelivery {
			t.Errorf("redeliver another subscriber's delivery: %v, want ErrNoDelivery", err)
		}
		list, _ = Deliveries(context.Background(), d, "test", "dead", 0, 10)
		if len(list) != 2 || list[0].Status != "pending" || list[0].EventID != list[1].EventID {
			t.Errorf("after redelivery: %+v", list)
		}
	})
}

// TestExpiredLeaseIsDeliveredAgain: a claim whose dispatcher died (its
// lease ran out) is claimed again; the dead dispatcher's late outcome
// changes nothing.
func TestExpiredLeaseIsDeliveredAgain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		appendN(t, d, 1)
		now := time.Now()
		clock := func() time.Time { return now }
		p := NewDispatcher(d, Options{Lease: time.Minute, Now: clock})
		rec := &recorder{subs: []string{"a"}, got: map[string]int{}}
		p.Register(rec)
		ctx := context.Background()
		if _, err := p.FanOut(ctx); err != nil {
			t.Fatal(err)
		}
		first, err := p.claim(ctx, 10)
		if err != nil || len(first) != 1 {
			t.Fatalf("claim: %v, %v", first, err)
		}
		if again, _ := p.claim(ctx, 10); len(again) != 0 {
			t.Fatalf("a leased delivery was claimed twice: %v", again)
		}
		now = now.Add(2 * time.Minute) // the first dispatcher "died"
		second, err := p.claim(ctx, 10)
		if err != nil || len(second) != 1 || second[0].ID != first[0].ID {
			t.Fatalf("claim after the lease: %v, %v", second, err)
		}
		if err := p.record(ctx, first[0], Outcome{Status: 500, Err: "late"}); err != nil {
			t.Fatal(err)
		}
		if c := statusCounts(t, d); c["pending"] != 1 {
			t.Fatalf("statuses %v", c)
		}
		p.deliver(ctx, second[0])
		if c := statusCounts(t, d); c["succeeded"] != 1 {
			t.Fatalf("statuses %v after delivery", c)
		}
	})
}

// TestBackoffGrowsWithJitter: each delay lies in [d/2, d] for d the base
// doubled per attempt, capped.
func TestBackoffGrowsWithJitter(t *testing.T) {
	p := NewDispatcher(nil, Options{BackoffBase: time.Second, BackoffMax: time.Minute})
	for attempt, d := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: time.Minute} {
		for range 50 {
			if got := p.Backoff(attempt); got < d/2 || got > d {
				t.Fatalf("attempt %d: %s, want within [%s, %s]", attempt, got, d/2, d)
			}
		}
	}
}

// TestPurgeKeepsPendingAndRecent: old dispatched events go with their
// delivery log; recent ones, undispatched ones and those with a pending
// delivery stay.
func TestPurgeKeepsPendingAndRecent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		now := time.Now()
		ctx := context.Background()
		appendN(t, d, 3)
		rec := &recorder{subs: []string{"a"}, got: map[string]int{}}
		p := NewDispatcher(d, Options{Retention: time.Hour, Now: func() time.Time { return now }})
		p.Register(rec)
		if _, err := p.FanOut(ctx); err != nil {
			t.Fatal(err)
		}
		appendN(t, d, 1) // never dispatched
		// Two of the three deliveries succeed; one stays pending.
		claimed, err := p.claim(ctx, 2)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		for _, c := range claimed {
			p.deliver(ctx, c)
		}
		if n, err := p.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("purge of recent events: %d, %v", n, err)
		}
		now = now.Add(2 * time.Hour)
		if n, err := p.Purge(ctx); err != nil || n != 2 {
			t.Fatalf("purge: %d, %v; want the 2 delivered events", n, err)
		}
		var events, deliveries int
		_ = d.QueryRow(ctx, `SELECT COUNT(*) FROM events`).Scan(&events)
		_ = d.QueryRow(ctx, `SELECT COUNT(*) FROM event_deliveries`).Scan(&deliveries)
		if events != 2 || deliveries != 1 {
			t.Fatalf("%d events, %d deliveries left; want 2 and 1", events, deliveries)
		}
	})
}
