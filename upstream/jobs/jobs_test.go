package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// counter records the periods each job ran.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
	by   map[string]string
}

func (c *counter) job(name string, sch Schedule, holder string) Job {
	return Job{Name: name, Schedule: sch, Run: func(ctx context.Context, key string, now time.Time) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.runs[name+" "+key]++
		c.by[name+" "+key] = holder
		return nil
	}}
}

// TestTwoSchedulersRunEachPeriodOnce runs two schedulers on one database
// (two upstream instances), ticking concurrently over 40 days of an
// injected clock: every daily, weekly and monthly period runs exactly once.
func TestTwoSchedulersRunEachPeriodOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		clock := testutil.NewClock(time.Date(2025, 2, 27, 22, 0, 0, 0, time.UTC))
		c := &counter{runs: map[string]int{}, by: map[string]string{}}
		mk := func(holder string) *Scheduler {
			return New(d, Options{Now: clock.Now, Holder: holder},
				c.job("daily", Daily, holder), c.job("weekly", Weekly, holder), c.job("monthly", Monthly, holder))
		}
		a, b := mk("a"), mk("b")
		ctx := context.Background()
		for range 40 * 6 { // every 4 hours
			var wg sync.WaitGroup
			for _, s := range []*Scheduler{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); s.Tick(ctx) }()
			}
			wg.Wait()
			a.Wait()
			b.Wait()
			clock.Add(4 * time.Hour)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		want := map[string]bool{"daily 2025-02-27": true, "daily 2025-03-01": true, "daily 2025-04-07": true,
			"weekly 2025-W09": true, "weekly 2025-W10": true, "monthly 2025-02": true, "monthly 2025-03": true, "monthly 2025-04": true}
		for k := range want {
			if c.runs[k] != 1 {
				t.Errorf("%s ran %d times, want 1", k, c.runs[k])
			}
		}
		days := 0
		for k, n := range c.runs {
			if n != 1 {
				t.Errorf("%s ran %d times", k, n)
			}
			if k[:5] == "daily" {
				days++
			}
		}
		if days != 41 {
			t.Errorf("%d daily runs, want 41", days)
		}
		runs, err := Runs(ctx, d, "monthly", 10)
		if err != nil || len(runs) != 3 || runs[0].Status != "succeeded" || runs[0].FinishedAt == nil {
			t.Fatalf("recorded monthly runs: %+v, %v", runs, err)
		}
		holders := map[string]bool{}
		for _, h := range c.by {
			holders[h] = true
		}
		t.Logf("runs shared by holders %v", holders)
	})
}

// TestAbandonedRunIsTakenOver: a run whose holder died (its lease ran out)
// is claimed by another instance; a failed run is retried after RetryAfter,
// at most MaxAttempts times.
func TestAbandonedRunIsTakenOver(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := testutil.NewClock(time.Date(2025, 3, 1, 0, 5, 0, 0, time.UTC))
		// The holder "dead" claimed today's run and was killed.
		if _, err := d.Exec(ctx, `INSERT INTO job_runs (job, run_key, holder, status, attempts, lease_until, started_at)
			VALUES ('daily', '2025-03-01', 'dead', 'running', 1, ?, ?)`,
			db.Micros(clock.Now().Add(time.Minute)), db.Micros(clock.Now())); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		ran, fail := 0, true
		s := New(d, Options{Now: clock.Now, Holder: "b", RetryAfter: time.Hour, MaxAttempts: 3},
			Job{Name: "daily", Schedule: Daily, Run: func(context.Context, string, time.Time) error {
				mu.Lock()
				defer mu.Unlock()
				ran++
				if fail {
					return errors.New("vendor down")
				}
				return nil
			}})
		if got := s.Tick(ctx); len(got) != 0 {
			t.Fatalf("took over a live lease: %v", got)
		}
		clock.Add(2 * time.Minute)
		if got := s.Tick(ctx); len(got) != 1 {
			t.Fatalf("did not take over an expired lease: %v", got)
		}
		s.Wait()
		clock.Add(30 * time.Minute)
		if got := s.Tick(ctx); len(got) != 0 {
			t.Fatalf("retried a failure before RetryAfter: %v", got)
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		clock.Add(time.Hour)
		if got := s.Tick(ctx); len(got) != 1 {
			t.Fatalf("did not retry a failed run: %v", got)
		}
		s.Wait()
		clock.Add(2 * time.Hour)
		if got := s.Tick(ctx); len(got) != 0 {
			t.Fatalf("ran a succeeded period again: %v", got)
		}
		runs, err := Runs(ctx, d, "daily", 5)
		if err != nil || len(runs) != 1 || runs[0].Status != "succeeded" || runs[0].Attempts != 3 || runs[0].Holder != "b" {
			t.Fatalf("runs = %+v, %v", runs, err)
		}
		if ran != 2 {
			t.Fatalf("job ran %d times here, want 2", ran)
		}
	})
}
