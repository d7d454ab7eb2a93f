package connectors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// SyncLog is one row of a connector's sync log.
type SyncLog struct {
	ID          int64      `json:"id"`
	Job         string     `json:"job"`
	RunKey      string     `json:"run_key"`
	Status      string     `json:"status"` // running, succeeded, failed
	ItemsSent   int        `json:"items_sent"`
	ItemsFailed int        `json:"items_failed"`
	Error       string     `json:"error"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
}

// RunJob runs scheduled job (JobDaily, JobWeekly, JobMonthly) of period
// key for every enabled connector that takes it, each in its own goroutine
// (a slow or hanging connector delays none of the others), and waits for
// them. A connector that already synced this period successfully (a
// retried run) is skipped, so a retry re-sends only what failed. It is the
// Run of the scheduler's connector jobs.
func (s *Service) RunJob(ctx context.Context, job, key string, now time.Time) error {
	if s.keys == nil {
		return nil
	}
	rs, err := s.list(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, r := range rs {
		t, ok := s.reg.Get(r.Type)
		if !r.Enabled || !ok || !slices.Contains(t.Jobs, job) {
			continue
		}
		var done int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM connector_sync_logs WHERE connector_id = ? AND job = ? AND run_key = ? AND status = 'succeeded'`,
			r.ID, job, key).Scan(&done); err != nil {
			return err
		}
		if done > 0 {
			continue
		}
		wg.Add(1)
		go func(r record) {
			defer wg.Done()
			id, err := s.startLog(ctx, r.ID, job, key, now)
			if err == nil {
				err = s.sync(ctx, r, id, Run{Job: job, Key: key, Now: now})
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("connector %s (%s): %w", r.ID, r.Type, err))
				mu.Unlock()
			}
		}(r)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RunNow starts a manual sync of connector id in the background and
// returns its sync log id.
func (s *Service) RunNow(ctx context.Context, base context.Context, id string) (int64, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return 0, err
	}
	now := s.opt.Now()
	key := now.UTC().Format("2006-01-02T15:04:05Z")
	logID, err := s.startLog(ctx, id, JobManual, key, now)
	if err != nil {
		return 0, err
	}
	go func() { _ = s.sync(base, r, logID, Run{Job: JobManual, Key: key, Now: now}) }()
	return logID, nil
}

func (s *Service) startLog(ctx context.Context, id, job, key string, now time.Time) (int64, error) {
	return s.db.InsertID(ctx, nil, `INSERT INTO connector_sync_logs (connector_id, job, run_key, status, started_at)
		VALUES (?, ?, ?, 'running', ?)`, id, job, key, db.Micros(now))
}

// sync runs one sync of r with retries, and records it in the sync log
// and on the connector (last_sync_at, sync_status, error_message).
func (s *Service) sync(ctx context.Context, r record, logID int64, run Run) error {
	var res Result
	c, t, err := s.instance(r)
	if err == nil {
		err = s.withRetries(ctx, s.lane(r.ID, t), func(ctx context.Context) error {
			var e error
			res, e = c.Sync(ctx, run)
			return e
		})
	}
	status, msg := "succeeded", ""
	if err != nil {
		status, msg = "failed", truncate(err.Error(), 500)
		s.opt.Logger.Warn("connector sync failed", "connector", r.ID, "type", r.Type, "job", run.Job, "err", msg)
	}
	wctx := context.WithoutCancel(ctx)
	now := db.Micros(s.opt.Now())
	if _, e := s.db.Exec(wctx, `UPDATE connector_sync_logs SET status = ?, items_sent = ?, items_failed = ?, error = ?, finished_at = ?
		WHERE id = ?`, status, res.Sent, res.Failed, msg, now, logID); e != nil {
		return errors.Join(err, e)
	}
	if _, e := s.db.Exec(wctx, `UPDATE connectors SET last_sync_at = ?, sync_status = ?, error_message = ? WHERE id = ?`,
		now, status, msg, r.ID); e != nil {
		return errors.Join(err, e)
	}
	return err
}

// SyncLogs returns connector id's newest limit sync logs, newest first.
func (s *Service) SyncLogs(ctx context.Context, id string, limit int) ([]SyncLog, error) {
	rows, err := s.db.Query(ctx, `SELECT id, job, run_key, status, items_sent, items_failed, error, started_at, finished_at
		FROM connector_sync_logs WHERE connector_id = ? ORDER BY id DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SyncLog{}
	for rows.Next() {
		var l SyncLog
		var started int64
		var fin *int64
		if err := rows.Scan(&l.ID, &l.Job, &l.RunKey, &l.Status, &l.ItemsSent, &l.ItemsFailed, &l.Error, &started, &fin); err != nil {
			return nil, err
		}
		l.StartedAt = db.FromMicros(started)
		if fin != nil {
			t := db.FromMicros(*fin)
			l.FinishedAt = &t
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// PurgeInbound forgets inbound event ids older than the 7-day
// deduplication window (run by the daily job).
func (s *Service) PurgeInbound(ctx context.Context, now time.Time) error {
	_, err := s.db.Exec(ctx, `DELETE FROM connector_inbound WHERE received_at < ?`, db.Micros(now.Add(-InboundDedupWindow)))
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
