package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Target is one family of subscribers: webhook endpoints today,
// connectors later. A connector framework subscribes to events by
// registering its own Target (Kind "connector"): it gets deliveries,
// retries and the delivery log for free.
type Target interface {
	// Kind names the family in event_deliveries.target_kind ("webhook").
	Kind() string
	// Subscribers returns the ids of this family's subscribers that want
	// ev, read inside tx, the fan-out transaction.
	Subscribers(ctx context.Context, tx *sql.Tx, ev Stored) ([]string, error)
	// Deliver sends ev to one subscriber. It must return within the
	// dispatcher's Lease (a delivery still running when its lease ends may
	// be sent again by another dispatcher: at least once, not exactly once).
	Deliver(ctx context.Context, d Delivery, ev Stored) Outcome
}

// Delivery is one claimed (event, subscriber) pair.
type Delivery struct {
	// ID is the event_deliveries row.
	ID int64
	// EventID is the event's id.
	EventID string
	// TargetID is the subscriber (a webhook id).
	TargetID string
	// Attempt counts this attempt, from 1.
	Attempt int
	// CreatedAt is when the delivery was created; the retry window runs
	// from it.
	CreatedAt time.Time
}

// Outcome is what one attempt did.
type Outcome struct {
	// OK: delivered (a 2xx answer).
	OK bool
	// Status is the HTTP status received (0: none).
	Status int
	// Err says why the attempt failed, shortly and without secrets.
	Err string
	// Defer > 0: nothing was attempted (the subscriber's breaker is open);
	// try again after Defer, without counting an attempt.
	Defer time.Duration
	// Drop: the subscriber is gone or disabled; the delivery fails for good.
	Drop bool
}

// Options configures a Dispatcher; zero values take the defaults.
type Options struct {
	// Poll is how often the outbox and due deliveries are looked at when
	// idle (default 200ms).
	Poll time.Duration
	// Batch bounds the events fanned out per transaction (default 100).
	Batch int
	// Workers bounds concurrent deliveries per dispatcher (default 8).
	Workers int
	// Lease is how long a claimed delivery is reserved to its dispatcher
	// (default 2m); past it, another dispatcher may send it again.
	Lease time.Duration
	// BackoffBase is the delay before the first retry (default 5s,
	// HUB_EVENTS_BACKOFF_BASE); it doubles with each attempt, with jitter.
	BackoffBase time.Duration
	// BackoffMax caps one retry delay (default 6h).
	BackoffMax time.Duration
	// RetryWindow is how long a delivery is retried (default 72h).
	RetryWindow time.Duration
	// Retention is how long dispatched events are kept, with their
	// delivery log, once none of their deliveries is pending (default 30
	// days; HUB_EVENTS_RETENTION). Run purges once an hour.
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives failures (never payloads or secrets).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 5 * time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 6 * time.Hour
	}
	if o.RetryWindow <= 0 {
		o.RetryWindow = 72 * time.Hour
	}
	if o.Retention <= 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Dispatcher fans outbox events out to subscribers and sends deliveries.
type Dispatcher struct {
	db      *db.DB
	opt     Options
	mu      sync.Mutex
	targets map[string]Target
}

// NewDispatcher returns a dispatcher on d; register targets, then Run.
func NewDispatcher(d *db.DB, opt Options) *Dispatcher {
	opt.defaults()
	return &Dispatcher{db: d, opt: opt, targets: map[string]Target{}}
}

// Register adds a target family. Deliveries of a kind nobody registered
// stay pending until a dispatcher that knows it runs.
func (p *Dispatcher) Register(t Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets[t.Kind()] = t
}

func (p *Dispatcher) target(kind string) Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targets[kind]
}

func (p *Dispatcher) kinds() ([]string, []Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks, ts := make([]string, 0, len(p.targets)), make([]Target, 0, len(p.targets))
	for k, t := range p.targets {
		ks, ts = append(ks, k), append(ts, t)
	}
	return ks, ts
}

// Run fans out and delivers until ctx ends, then waits for the deliveries
// in flight. Errors are logged and retried at the next poll.
func (p *Dispatcher) Run(ctx context.Context) {
	sem := make(chan struct{}, p.opt.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(p.opt.Poll)
	defer t.Stop()
	var purged time.Time
	for {
		if now := p.opt.Now(); now.Sub(purged) >= time.Hour {
			purged = now
			if n, err := p.Purge(ctx); err != nil && ctx.Err() == nil {
				p.opt.Logger.Warn("events: purge failed", "err", err)
			} else if n > 0 {
				p.opt.Logger.Info("events: purged old events", "events", n)
			}
		}
		busy := false
		n, err := p.FanOut(ctx)
		if err != nil && ctx.Err() == nil {
			p.opt.Logger.Warn("events: fan-out failed", "err", err)
		}
		busy = busy || n == p.opt.Batch
		if free := p.opt.Workers - len(sem); free > 0 {
			claimed, err := p.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				p.opt.Logger.Warn("events: claim failed", "err", err)
			}
			for _, c := range claimed {
				sem <- struct{}{}
				wg.Add(1)
				go func(c claimedDelivery) {
					defer func() { <-sem; wg.Done() }()
					p.deliver(context.WithoutCancel(ctx), c)
				}(c)
			}
			busy = busy || len(claimed) == free
		}
		if busy {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FanOut turns up to Batch undispatched events into deliveries, one per
// interested subscriber, and marks them dispatched, in one transaction:
// a crash before the commit leaves the events undispatched, after it
// leaves the deliveries. It returns how many events it dispatched.
func (p *Dispatcher) FanOut(ctx context.Context) (int, error) {
	d := p.db
	// A cheap read first: on SQLite a transaction takes the write lock at
	// BEGIN, which an idle poll should not.
	var one int
	switch err := d.QueryRow(ctx, `SELECT 1 FROM events WHERE dispatched_at IS NULL LIMIT 1`).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	q := `SELECT seq, id, type, owner_id, payload FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ?`
	if d.Dialect == db.Postgres {
		// Several upstreams fan out concurrently, each its own rows.
		q += ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := tx.QueryContext(ctx, d.Rebind(q), p.opt.Batch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	var evs []Stored
	for rows.Next() {
		var s Stored
		var owner sql.NullInt64
		var payload string
		if err := rows.Scan(&s.Seq, &s.ID, &s.Type, &owner, &payload); err != nil {
			rows.Close()
			return 0, err
		}
		s.Owner, s.Payload = owner.Int64, []byte(payload)
		evs = append(evs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(evs) == 0 {
		return 0, err
	}
	now := db.Micros(p.opt.Now())
	kinds, targets := p.kinds()
	ins := d.Rebind(`INSERT INTO event_deliveries (event_id, target_kind, target_id, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)`)
	seqs := make([]any, 0, len(evs)+1)
	seqs = append(seqs, now)
	for _, ev := range evs {
		for i, t := range targets {
			subs, err := t.Subscribers(ctx, tx, ev)
			if err != nil {
				return 0, fmt.Errorf("subscribers of %s: %w", kinds[i], err)
			}
			for _, id := range subs {
				if _, err := tx.ExecContext(ctx, ins, ev.ID, kinds[i], id, now, now); err != nil {
					return 0, fmt.Errorf("insert delivery: %w", err)
				}
			}
		}
		seqs = append(seqs, ev.Seq)
	}
	upd := `UPDATE events SET dispatched_at = ? WHERE seq IN (?` + strings.Repeat(", ?", len(evs)-1) + `)`
	if _, err := tx.ExecContext(ctx, d.Rebind(upd), seqs...); err != nil {
		return 0, fmt.Errorf("mark dispatched: %w", err)
	}
	return len(evs), tx.Commit()
}

// Purge deletes the events dispatched more than Retention ago that have no
// pending delivery, and their deliveries (ON DELETE CASCADE). It returns
// how many events it deleted.
func (p *Dispatcher) Purge(ctx context.Context) (int64, error) {
	cut := db.Micros(p.opt.Now().Add(-p.opt.Retention))
	res, err := p.db.Exec(ctx, `DELETE FROM events WHERE dispatched_at < ? AND NOT EXISTS
		(SELECT 1 FROM event_deliveries x WHERE x.event_id = events.id AND x.status = 'pending')`, cut)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// claimedDelivery is a claimed delivery with its kind and lease token.
type claimedDelivery struct {
	Delivery
	kind  string
	lease int64
}

// claim leases up to n due deliveries of the registered kinds.
func (p *Dispatcher) claim(ctx context.Context, n int) ([]claimedDelivery, error) {
	kinds, _ := p.kinds()
	if len(kinds) == 0 {
		return nil, nil
	}
	d := p.db
	now := db.Micros(p.opt.Now())
	lease := now + p.opt.Lease.Microseconds()
	inner := `SELECT id FROM event_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
		AND (lease_until IS NULL OR lease_until <= ?) AND target_kind IN (?` + strings.Repeat(", ?", len(kinds)-1) + `)
		ORDER BY next_attempt_at, id LIMIT ?`
	if d.Dialect == db.Postgres {
		inner += ` FOR UPDATE SKIP LOCKED`
	}
	args := []any{lease, now, now}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, n)
	// One statement: on SQLite it runs under the database's single write
	// lock; on PostgreSQL SKIP LOCKED keeps two claimers off the same rows.
	q := `UPDATE event_deliveries SET lease_until = ? WHERE id IN (` + inner + `)
		RETURNING id, event_id, target_kind, target_id, attempts, created_at`
	rows, err := d.DB.QueryContext(ctx, d.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []claimedDelivery
	for rows.Next() {
		var c claimedDelivery
		var created int64
		if err := rows.Scan(&c.ID, &c.EventID, &c.kind, &c.TargetID, &c.Attempt, &created); err != nil {
			return nil, err
		}
		c.Attempt++
		c.CreatedAt, c.lease = db.FromMicros(created), lease
		out = append(out, c)
	}
	return out, rows.Err()
}

// deliver runs one attempt and records its outcome.
func (p *Dispatcher) deliver(ctx context.Context, c claimedDelivery) {
	t := p.target(c.kind)
	ev, err := p.load(ctx, c.EventID)
	var o Outcome
	switch {
	case errors.Is(err, sql.ErrNoRows):
		o = Outcome{Drop: true, Err: "event no longer stored"}
	case err != nil:
		o = Outcome{Defer: p.opt.BackoffBase, Err: "load event: " + err.Error()}
	case t == nil:
		o = Outcome{Defer: p.opt.BackoffBase, Err: "no dispatcher for " + c.kind}
	default:
		dctx, cancel := context.WithTimeout(ctx, p.opt.Lease)
		o = t.Deliver(dctx, c.Delivery, ev)
		cancel()
	}
	if err := p.record(ctx, c, o); err != nil {
		p.opt.Logger.Warn("events: record delivery failed", "delivery", c.ID, "err", err)
	}
}

func (p *Dispatcher) load(ctx context.Context, id string) (Stored, error) {
	var s Stored
	var owner sql.NullInt64
	var payload string
	err := p.db.QueryRow(ctx, `SELECT seq, id, type, owner_id, payload FROM events WHERE id = ?`, id).
		Scan(&s.Seq, &s.ID, &s.Type, &owner, &payload)
	s.Owner, s.Payload = owner.Int64, []byte(payload)
	return s, err
}

// record writes an attempt's outcome, only while the claim is still ours
// (a dispatcher that outlived its lease changes nothing).
func (p *Dispatcher) record(ctx context.Context, c claimedDelivery, o Outcome) error {
	now := p.opt.Now()
	us := db.Micros(now)
	var q string
	var args []any
	errText := truncate(o.Err, 500)
	var status any
	if o.Status != 0 {
		status = o.Status
	}
	switch {
	case o.OK:
		q = `UPDATE event_deliveries SET status = 'succeeded', attempts = attempts + 1, lease_until = NULL,
			last_attempt_at = ?, last_status = ?, last_error = '', delivered_at = ? WHERE id = ? AND lease_until = ?`
		args = []any{us, status, us, c.ID, c.lease}
	case o.Drop:
		q = `UPDATE event_deliveries SET status = 'failed', lease_until = NULL, last_error = ? WHERE id = ? AND lease_until = ?`
		args = []any{errText, c.ID, c.lease}
	case o.Defer > 0:
		q = `UPDATE event_deliveries SET lease_until = NULL, next_attempt_at = ?, last_error = ? WHERE id = ? AND lease_until = ?`
		args = []any{db.Micros(now.Add(o.Defer)), errText, c.ID, c.lease}
	default:
		next := now.Add(p.Backoff(c.Attempt))
		st := "pending"
		if next.After(c.CreatedAt.Add(p.opt.RetryWindow)) {
			st = "failed"
		}
		q = `UPDATE event_deliveries SET status = ?, attempts = attempts + 1, lease_until = NULL, next_attempt_at = ?,
			last_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ? AND lease_until = ?`
		args = []any{st, db.Micros(next), us, status, errText, c.ID, c.lease}
	}
	_, err := p.db.Exec(ctx, q, args...)
	return err
}

// Backoff is the delay after the attempt-th failed attempt: BackoffBase
// doubled per attempt, capped at BackoffMax, with equal jitter (half
// fixed, half random) so that endpoints recovering together are not hit
// by every retry at once.
func (p *Dispatcher) Backoff(attempt int) time.Duration {
	d := p.opt.BackoffBase
	for i := 1; i < attempt && d < p.opt.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.opt.BackoffMax)
	half := d / 2
	return half + rand.N(half+1)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
