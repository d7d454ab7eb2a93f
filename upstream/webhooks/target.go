package webhooks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/events"
)

// Kind implements events.Target.
func (s *Service) Kind() string { return Kind }

// Subscribers implements events.Target: the enabled webhooks whose
// patterns match ev's type, of owners who may still hold webhooks
// (active admins and conducteurs; a demoted or deactivated owner's
// endpoints receive nothing). An event scoped to one user (api_key.*,
// webhook.disabled) goes to that user's webhooks only.
func (s *Service) Subscribers(ctx context.Context, tx *sql.Tx, ev events.Stored) ([]string, error) {
	q := `SELECT w.id, w.events FROM webhooks w JOIN users u ON u.id = w.user_id
		WHERE w.enabled = TRUE AND u.active = TRUE AND u.role IN ('admin', 'conducteur')`
	args := []any{}
	if ev.Owner != 0 {
		q, args = q+` AND w.user_id = ?`, append(args, ev.Owner)
	}
	rows, err := tx.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, evs string
		if err := rows.Scan(&id, &evs); err != nil {
			return nil, err
		}
		var ps []string
		if json.Unmarshal([]byte(evs), &ps) != nil {
			continue
		}
		for _, p := range ps {
			if Match(p, ev.Type) {
				out = append(out, id)
				break
			}
		}
	}
	return out, rows.Err()
}

// errStatus is a non-2xx answer.
type errStatus int

func (e errStatus) Error() string { return "endpoint answered " + strconv.Itoa(int(e)) }

// Deliver implements events.Target: one signed POST of the event's
// envelope, through the endpoint's breaker.
func (s *Service) Deliver(ctx context.Context, d events.Delivery, ev events.Stored) events.Outcome {
	w, err := s.get(ctx, d.TargetID)
	if errors.Is(err, errNotFound) {
		return events.Outcome{Drop: true, Err: "the webhook was deleted"}
	}
	if err != nil {
		return events.Outcome{Defer: time.Second, Err: "load webhook: " + err.Error()}
	}
	if !w.Enabled {
		return events.Outcome{Drop: true, Err: "the webhook is disabled"}
	}
	cb := s.breaker(w.ID)
	status, err := cb.Execute(func() (int, error) { return s.post(ctx, w, ev) })
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return events.Outcome{Defer: s.opt.BreakerOpen, Err: "circuit breaker open: the endpoint keeps failing"}
	case err != nil:
		s.failed(ctx, w, err)
		return events.Outcome{Status: status, Err: err.Error()}
	}
	if w.failures > 0 {
		_, _ = s.db.Exec(ctx, `UPDATE webhooks SET consecutive_failures = 0 WHERE id = ?`, w.ID)
	}
	return events.Outcome{OK: true, Status: status}
}

// Headers of a delivery (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// post sends the envelope once and returns the status received.
func (s *Service) post(ctx context.Context, w Webhook, ev events.Stored) (int, error) {
	now := s.opt.Now()
	sigs, err := s.signatures(w, ev.ID, now, ev.Payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(ev.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hubchantier-webhooks/1")
	req.Header.Set(HeaderID, ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sigs)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", unwrapURL(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errStatus(resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// unwrapURL drops the *url.Error wrapper, whose text repeats the URL (which
// may carry a token in its query): the log says why, not where.
func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// signatures is the webhook-signature header: the current secret's
// signature, then the previous secret's during a rotation's overlap.
func (s *Service) signatures(w Webhook, id string, now time.Time, body []byte) (string, error) {
	cur, err := s.seal.open(w.ID, w.secretEnc)
	if err != nil {
		return "", err
	}
	sig, err := Sign(cur, id, now.Unix(), body)
	if err != nil {
		return "", err
	}
	if w.prevEnc != "" && w.prevUntil != nil && w.prevUntil.After(now) {
		prev, err := s.seal.open(w.ID, w.prevEnc)
		if err != nil {
			return "", err
		}
		psig, err := Sign(prev, id, now.Unix(), body)
		if err != nil {
			return "", err
		}
		sig += " " + psig
	}
	return sig, nil
}

// failed counts a failed attempt; at DisableAfter in a row the endpoint is
// disabled and its owner told by a webhook.disabled event (to the owner's
// other webhooks), in the same transaction.
func (s *Service) failed(ctx context.Context, w Webhook, cause error) {
	s.opt.Logger.Warn("webhook delivery failed", "webhook", w.ID, "err", cause)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, s.db.Rebind(`UPDATE webhooks SET consecutive_failures = consecutive_failures + 1
		WHERE id = ? RETURNING consecutive_failures`), w.ID).Scan(&n); err != nil {
		return
	}
	if n >= s.opt.DisableAfter {
		reason := fmt.Sprintf("%d delivery attempts failed in a row; the last: %s", n, cause)
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE webhooks SET enabled = FALSE, disabled_reason = ?, version = version + 1, updated_at = ?
			WHERE id = ? AND enabled = TRUE`), truncate(reason, 500), db.Micros(s.opt.Now()), w.ID)
		if err != nil {
			return
		}
		if k, _ := res.RowsAffected(); k == 1 {
			ev := events.New(events.WebhookDisabled, s.opt.Now(), events.System,
				events.Resource{Type: "webhooks", ID: w.ID},
				map[string]any{"id": w.ID, "url": w.URL, "reason": truncate(reason, 500), "consecutive_failures": n}).ForOwner(w.UserID)
			if err := events.Append(ctx, s.db, tx, ev); err != nil {
				return
			}
			s.opt.Logger.Warn("webhook disabled after repeated failures", "webhook", w.ID, "failures", n)
		}
	}
	_ = tx.Commit()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// breaker returns the endpoint's breaker (per process).
func (s *Service) breaker(id string) *gobreaker.CircuitBreaker[int] {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.breakers[id]
	if !ok {
		limit := uint32(s.opt.BreakerFailures)
		cb = gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
			Name:        "webhook " + id,
			MaxRequests: 1,
			Timeout:     s.opt.BreakerOpen,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= limit },
		})
		s.breakers[id] = cb
	}
	return cb
}

// resetBreaker forgets an endpoint's breaker (after it is enabled again).
func (s *Service) resetBreaker(id string) {
	s.mu.Lock()
	delete(s.breakers, id)
	s.mu.Unlock()
}

var _ events.Target = (*Service)(nil)
