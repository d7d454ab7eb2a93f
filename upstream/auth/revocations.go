package auth

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Revocation event kinds (contract.Revoked*), named here for the packages
// that publish them.
const (
	// KindAPIKey: a key was revoked or rotated (ref: key id).
	KindAPIKey = contract.RevokedAPIKey
	// KindUser: a user was deleted, deactivated or changed role (ref: user
	// id); the event's At is the cut (contract.RevokedUser).
	KindUser = contract.RevokedUser
	// KindToken: an access token was revoked (ref: jti).
	KindToken = contract.RevokedToken
	// KindClient: an OAuth2 client was revoked (ref: client id).
	KindClient = contract.RevokedClient
)

// maxEvents bounds one page of the feed; a gateway asks again from last_seq.
const maxEvents = 1000

// notifier wakes long-polls of this process as soon as it publishes; other
// processes' events are seen by the 100 ms database poll.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next broadcast.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// Publish appends an event to the revocation feed. Other packages (OAuth2
// token and client revocation) use it with KindToken and KindClient.
func (s *Service) Publish(ctx context.Context, kind, ref string) error {
	return s.publish(ctx, kind, ref)
}

func (s *Service) publish(ctx context.Context, kind, ref string) error {
	return s.publishAt(ctx, kind, ref, s.now())
}

// publishAt appends an event dated at: for a "user" event, the cut that
// gateways apply to the user's tokens (iat ≤ at refused), equal to the
// users.tokens_valid_after written with it.
func (s *Service) publishAt(ctx context.Context, kind, ref string, at time.Time) error {
	if err := s.insertEvent(ctx, kind, ref, at); err != nil {
		return fmt.Errorf("publish %s revocation of %s: %w", kind, ref, err)
	}
	s.feed.broadcast()
	return nil
}

// insertEvent appends one event. On PostgreSQL the inserts are serialised
// with a transaction-scoped advisory lock: a sequence hands out numbers at
// insert time, so two concurrent transactions could commit 5 before 4, and a
// reader that already moved past 5 would never see 4. SQLite serialises
// writers by itself.
func (s *Service) insertEvent(ctx context.Context, kind, ref string, when time.Time) error {
	d := s.db
	q := `INSERT INTO revocation_events (kind, ref, at) VALUES (?, ?, ?)`
	at := db.Micros(when)
	if d.Dialect != db.Postgres {
		_, err := d.Exec(ctx, q, kind, ref, at)
		return err
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7262003)`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(q), kind, ref, at); err != nil {
		return err
	}
	return tx.Commit()
}

// LastSeq returns the sequence number of the newest event (0 when none).
func (s *Service) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocation_events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last revocation: %w", err)
	}
	return seq, nil
}

// replayWindow is how far back a gateway's first poll reaches: past the
// lifetime of every access token (login tokens: TokenTTL; OAuth2: one hour)
// plus the gateways' leeway, and at least as long as a gateway remembers a
// revoked jti (modules/hub forgetRevokedFor, two hours).
func (s *Service) replayWindow() time.Duration {
	return max(2*time.Hour, s.o.TokenTTL+jwksMargin)
}

// ReplayStart returns the since from which a gateway that has seen nothing
// must read the feed: just before the oldest event of the replay window,
// or the newest seq when that window holds none.
func (s *Service) ReplayStart(ctx context.Context) (int64, error) {
	var first sql.NullInt64
	cutoff := db.Micros(s.now().Add(-s.replayWindow()))
	if err := s.db.QueryRow(ctx, `SELECT MIN(seq) FROM revocation_events WHERE at >= ?`, cutoff).Scan(&first); err != nil {
		return 0, fmt.Errorf("read recent revocations: %w", err)
	}
	if !first.Valid {
		return s.LastSeq(ctx)
	}
	return first.Int64 - 1, nil
}

// Events returns up to 1000 events with seq > since, oldest first, and the
// seq to resume from: that of the last event returned, or the newest seq of
// the feed when nothing is newer. A last_seq below since tells the caller
// the feed was reset (a new database) and its caches should be flushed.
func (s *Service) Events(ctx context.Context, since int64) ([]contract.RevocationEvent, int64, error) {
	rows, err := s.db.Query(ctx, `SELECT seq, kind, ref, at FROM revocation_events WHERE seq > ? ORDER BY seq LIMIT ?`, since, maxEvents)
	if err != nil {
		return nil, 0, fmt.Errorf("read revocations: %w", err)
	}
	defer rows.Close()
	events := []contract.RevocationEvent{}
	for rows.Next() {
		var e contract.RevocationEvent
		var at int64
		if err := rows.Scan(&e.Seq, &e.Kind, &e.ID, &at); err != nil {
			return nil, 0, fmt.Errorf("read revocations: %w", err)
		}
		e.At = db.FromMicros(at)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read revocations: %w", err)
	}
	if len(events) > 0 {
		return events, events[len(events)-1].Seq, nil
	}
	last, err := s.LastSeq(ctx)
	return events, last, err
}

// WaitEvents is Events that, when nothing is newer than since, waits up to
// wait for an event: woken at once by this process's publications and
// re-checking the database every 100 ms for other processes'.
func (s *Service) WaitEvents(ctx context.Context, since int64, wait time.Duration) ([]contract.RevocationEvent, int64, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := s.feedPoll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		woken := s.feed.wait() // taken before the query, so no publication is missed
		events, last, err := s.Events(ctx, since)
		if err != nil || len(events) > 0 || wait <= 0 {
			return events, last, err
		}
		if s.feedParked != nil {
			s.feedParked()
		}
		select {
		case <-ctx.Done():
			return events, last, nil
		case <-deadline.C:
			return events, last, nil
		case <-woken:
		case <-tick.C:
		}
	}
}
