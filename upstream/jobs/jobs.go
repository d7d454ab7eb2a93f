// Package jobs runs periodic jobs (the connectors' daily sync, the monthly
// payroll export, the daily API key rotation) once per period across any
// number of upstream instances sharing one database (docs/connectors.md,
// "Scheduler").
//
// A job has a Schedule that names the period an instant belongs to (the
// day, the ISO week, the month). On every tick each scheduler computes the
// current period of each job and tries to claim it: one INSERT into
// job_runs, unique on (job, run_key), so exactly one instance wins; the
// winner holds a lease it renews while the job runs. A run whose holder died
// (its lease ran out) or that failed is claimed again by the next tick of
// any instance, up to MaxAttempts. Every run is recorded in job_runs with
// its holder, status, attempts and error. A scheduler that was down at
// midnight runs the day's job when it starts: the period, not the instant,
// is what runs once.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Schedule names the period t belongs to, in loc: the run key. A job runs
// once per distinct key, as soon as the key is current.
type Schedule func(t time.Time, loc *time.Location) string

// Daily is a schedule whose period starts at midnight.
func Daily(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

// Weekly is a schedule whose period starts on Monday at midnight (ISO week).
func Weekly(t time.Time, loc *time.Location) string {
	y, w := t.In(loc).ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// Monthly is a schedule whose period starts on the 1st at midnight.
func Monthly(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01") }

// Job is one periodic job.
type Job struct {
	// Name identifies the job in job_runs (stable across releases).
	Name string
	// Schedule gives the job's periods.
	Schedule Schedule
	// Run does the work of period key (started at now). It must be
	// idempotent: a run whose holder dies is run again.
	Run func(ctx context.Context, key string, now time.Time) error
}

// Options configures a Scheduler; zero values take the defaults.
type Options struct {
	// Poll is how often periods are checked (default 30s; HUB_JOBS_POLL).
	Poll time.Duration
	// Lease is how long a claimed run is reserved to its holder without a
	// renewal (default 2m); the holder renews it every Lease/3.
	Lease time.Duration
	// MaxAttempts bounds the runs of one period (default 3); RetryAfter is
	// how long after a failure the period is tried again (default 10m).
	MaxAttempts int
	RetryAfter  time.Duration
	// Location is the time zone of the periods (default UTC; HUB_JOBS_TIMEZONE).
	Location *time.Location
	// Holder names this instance in job_runs (default a random id).
	Holder string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives runs and failures.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Poll <= 0 {
		o.Poll = 30 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 10 * time.Minute
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Holder == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.Holder = "sched-" + hex.EncodeToString(b)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Scheduler runs jobs; one per upstream process.
type Scheduler struct {
	db   *db.DB
	opt  Options
	jobs []Job

	mu      sync.Mutex
	running map[string]bool // job name → a run of it is in progress here
	wg      sync.WaitGroup
}

// New returns a scheduler of jobs on d.
func New(d *db.DB, opt Options, jobs ...Job) *Scheduler {
	opt.defaults()
	return &Scheduler{db: d, opt: opt, jobs: jobs, running: map[string]bool{}}
}

// Holder is this scheduler's name in job_runs.
func (s *Scheduler) Holder() string { return s.opt.Holder }

// Run ticks every Poll until ctx ends, then waits for the runs in progress.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.wg.Wait()
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick claims the current period of every job not yet run (or whose run
// must be retried) and starts each claimed run in its own goroutine, so a
// slow job never delays another. It returns the names of the jobs started.
func (s *Scheduler) Tick(ctx context.Context) []string {
	var started []string
	for _, j := range s.jobs {
		s.mu.Lock()
		busy := s.running[j.Name]
		s.mu.Unlock()
		if busy {
			continue
		}
		now := s.opt.Now()
		key := j.Schedule(now, s.opt.Location)
		id, ok, err := s.claim(ctx, j.Name, key, now)
		if err != nil {
			if ctx.Err() == nil {
				s.opt.Logger.Warn("jobs: claim failed", "job", j.Name, "err", err)
			}
			continue
		}
		if !ok {
			continue
		}
		s.mu.Lock()
		s.running[j.Name] = true
		s.mu.Unlock()
		s.wg.Add(1)
		started = append(started, j.Name)
		go func(j Job, id int64) {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.running, j.Name)
				s.mu.Unlock()
			}()
			s.run(ctx, j, id, key, now)
		}(j, id)
	}
	return started
}

// Wait waits for the runs started by Tick.
func (s *Scheduler) Wait() { s.wg.Wait() }

// claim takes period key of job: a new row, or an existing one whose lease
// ran out while running or that failed long enough ago, with attempts left.
func (s *Scheduler) claim(ctx context.Context, job, key string, now time.Time) (int64, bool, error) {
	us := db.Micros(now)
	lease := db.Micros(now.Add(s.opt.Lease))
	res, err := s.db.Exec(ctx, `INSERT INTO job_runs (job, run_key, holder, status, attempts, lease_until, started_at)
		VALUES (?, ?, ?, 'running', 1, ?, ?) ON CONFLICT (job, run_key) DO NOTHING`, job, key, s.opt.Holder, lease, us)
	if err != nil {
		return 0, false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Someone holds or held it: take it over only if abandoned or
		// failed, in one conditional UPDATE (two takers: one wins).
		res, err = s.db.Exec(ctx, `UPDATE job_runs SET holder = ?, status = 'running', attempts = attempts + 1,
			lease_until = ?, started_at = ?, finished_at = NULL
			WHERE job = ? AND run_key = ? AND attempts < ? AND (
				(status = 'running' AND lease_until < ?) OR (status = 'failed' AND finished_at < ?))`,
			s.opt.Holder, lease, us, job, key, s.opt.MaxAttempts, us, db.Micros(now.Add(-s.opt.RetryAfter)))
		if err != nil {
			return 0, false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, false, nil
		}
	}
	var id int64
	err = s.db.QueryRow(ctx, `SELECT id FROM job_runs WHERE job = ? AND run_key = ? AND holder = ?`, job, key, s.opt.Holder).Scan(&id)
	return id, err == nil, err
}

// run runs one claimed period, renewing the lease, and records the outcome.
func (s *Scheduler) run(ctx context.Context, j Job, id int64, key string, now time.Time) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	go s.renew(rctx, id, lost, cancel)
	s.opt.Logger.Info("jobs: run", "job", j.Name, "period", key, "holder", s.opt.Holder)
	err := safeRun(rctx, j, key, now)
	select {
	case <-lost:
		s.opt.Logger.Warn("jobs: lease lost; another instance runs the period", "job", j.Name, "period", key)
		return
	default:
	}
	status, msg := "succeeded", ""
	if err != nil {
		status, msg = "failed", truncate(err.Error(), 500)
		s.opt.Logger.Warn("jobs: run failed", "job", j.Name, "period", key, "err", msg)
	}
	if _, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE job_runs SET status = ?, error = ?, finished_at = ?
		WHERE id = ? AND holder = ?`, status, msg, db.Micros(s.opt.Now()), id, s.opt.Holder); err != nil {
		s.opt.Logger.Warn("jobs: record run failed", "job", j.Name, "err", err)
	}
}

// safeRun runs the job, turning a panic into an error.
func safeRun(ctx context.Context, j Job, key string, now time.Time) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return j.Run(ctx, key, now)
}

// renew extends the lease every Lease/3 while the run lasts; if the row is
// no longer ours, it closes lost and cancels the run.
func (s *Scheduler) renew(ctx context.Context, id int64, lost chan struct{}, cancel context.CancelFunc) {
	t := time.NewTicker(s.opt.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := s.db.Exec(ctx, `UPDATE job_runs SET lease_until = ? WHERE id = ? AND holder = ? AND status = 'running'`,
			db.Micros(s.opt.Now().Add(s.opt.Lease)), id, s.opt.Holder)
		if err != nil {
			continue
		}
		if n, _ := res.RowsAffected(); n == 0 {
			close(lost)
			cancel()
			return
		}
	}
}

// RunInfo is one recorded run.
type RunInfo struct {
	Job        string     `json:"job"`
	Key        string     `json:"run_key"`
	Holder     string     `json:"holder"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error"`
}

// Runs returns the recorded runs of job, newest first (at most limit).
func Runs(ctx context.Context, d *db.DB, job string, limit int) ([]RunInfo, error) {
	rows, err := d.Query(ctx, `SELECT job, run_key, holder, status, attempts, started_at, finished_at, error
		FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?`, job, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunInfo
	for rows.Next() {
		var r RunInfo
		var started int64
		var fin *int64
		if err := rows.Scan(&r.Job, &r.Key, &r.Holder, &r.Status, &r.Attempts, &started, &fin, &r.Error); err != nil {
			return nil, err
		}
		r.StartedAt = db.FromMicros(started)
		if fin != nil {
			t := db.FromMicros(*fin)
			r.FinishedAt = &t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
