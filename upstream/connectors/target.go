package connectors

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/hubchantier/hubgate/upstream/events"
)

// Kind is the connectors' target kind in the event dispatcher.
const Kind = "connector"

// Kind implements events.Target.
func (s *Service) Kind() string { return Kind }

// Subscribers implements events.Target: the enabled connectors whose type
// takes ev's type. An event scoped to one user (api_key.*) goes only to
// that user's connectors.
func (s *Service) Subscribers(ctx context.Context, tx *sql.Tx, ev events.Stored) ([]string, error) {
	if s.keys == nil {
		return nil, nil
	}
	var types []string
	for _, n := range s.reg.Names() {
		if t, _ := s.reg.Get(n); slices.Contains(t.Events, ev.Type) {
			types = append(types, n)
		}
	}
	if len(types) == 0 {
		return nil, nil
	}
	q := `SELECT id, type FROM connectors WHERE enabled = TRUE`
	var args []any
	if ev.Owner != 0 {
		q, args = q+` AND owner_id = ?`, append(args, ev.Owner)
	}
	rows, err := tx.QueryContext(ctx, s.db.Rebind(q+` ORDER BY id`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, typ string
		if err := rows.Scan(&id, &typ); err != nil {
			return nil, err
		}
		if slices.Contains(types, typ) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// busyDefer is how long a delivery waits when its connector is already
// handling one (the lane's single slot).
const busyDefer = time.Second

// Deliver implements events.Target: the connector handles the event in its
// lane. A connector busy with another event, rate-limited or with an open
// breaker defers the delivery (no attempt counted) and frees the
// dispatcher's worker at once, so it never delays other connectors.
func (s *Service) Deliver(ctx context.Context, d events.Delivery, ev events.Stored) events.Outcome {
	r, err := s.get(ctx, d.TargetID)
	if errors.Is(err, errNotFound) {
		return events.Outcome{Drop: true, Err: "the connector was deleted"}
	}
	if err != nil {
		return events.Outcome{Defer: time.Second, Err: "load connector: " + err.Error()}
	}
	if !r.Enabled {
		return events.Outcome{Drop: true, Err: "the connector is disabled"}
	}
	c, t, err := s.instance(r)
	if err != nil {
		return events.Outcome{Drop: true, Err: err.Error()}
	}
	l := s.lane(r.ID, t)
	select {
	case l.slot <- struct{}{}:
		defer func() { <-l.slot }()
	default:
		return events.Outcome{Defer: busyDefer, Err: "the connector is busy with another event"}
	}
	wait, err := s.call(ctx, l, false, func(ctx context.Context) error { return c.HandleEvent(ctx, ev) })
	if ra, ok := retryAfter(err); ok {
		wait = ra
	}
	switch {
	case err == nil:
		return events.Outcome{OK: true}
	case isPermanent(err):
		return events.Outcome{Drop: true, Err: err.Error()}
	case wait > 0:
		return events.Outcome{Defer: wait, Err: err.Error()}
	default:
		s.opt.Logger.Warn("connector event failed", "connector", r.ID, "type", r.Type, "event", ev.Type, "err", err)
		return events.Outcome{Err: err.Error()}
	}
}

var _ events.Target = (*Service)(nil)
