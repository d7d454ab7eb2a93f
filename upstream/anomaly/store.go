// Package anomaly is the upstream side of the gateway's anomaly detection
// (hub_anomaly, docs/anomalies.md): the anomalies table, the gateways'
// internal ingest endpoint (POST /internal/anomalies, idempotent by event
// id) and the admins' listing (GET /api/v1/admin/anomalies, last 7 days).
package anomaly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/page"
)

// ListWindow is how far back the admin listing looks.
const ListWindow = 7 * 24 * time.Hour

// Rules are the rule names a gateway may report (contract.AnomalyRules);
// anything else is refused, so the column (and any dashboard over it)
// stays a small, known set.
var Rules = setOf(contract.AnomalyRules[:])

// Kinds are the principal kinds a gateway may report
// (contract.AnomalyPrincipalKinds).
var Kinds = setOf(contract.AnomalyPrincipalKinds[:])

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Field bounds for ingested events.
const (
	maxIDLen      = 128
	maxDetailsLen = 8 << 10
)

// Event is one detection as the gateway reports it and admins read it
// (contract.AnomalyEvent), its details kept as the JSON object that came.
type Event struct {
	contract.AnomalyEvent[json.RawMessage]

	id int64
}

// validate checks an ingested event; the message names the field.
func (e *Event) validate() error {
	switch {
	case e.EventID == "" || len(e.EventID) > maxIDLen:
		return errors.New("event_id: required, at most 128 bytes")
	case e.DetectedAt.IsZero():
		return errors.New("detected_at: required (RFC 3339)")
	case !Rules[e.Rule]:
		return fmt.Errorf("rule: %q is not one of error_rate, spike, scan, user_agents", e.Rule)
	case !Kinds[e.PrincipalKind]:
		return fmt.Errorf("principal_kind: %q is not one of api_key, oauth_client, user, ip", e.PrincipalKind)
	case e.PrincipalID == "" || len(e.PrincipalID) > maxIDLen:
		return errors.New("principal_id: required, at most 128 bytes")
	case len(e.GatewayID) > maxIDLen:
		return errors.New("gateway_id: at most 128 bytes")
	case len(e.Details) > maxDetailsLen:
		return errors.New("details: at most 8 KiB")
	}
	if len(e.Details) == 0 || string(e.Details) == "null" {
		e.Details = json.RawMessage(`{}`)
	}
	var obj map[string]any
	if err := json.Unmarshal(e.Details, &obj); err != nil {
		return errors.New("details: must be a JSON object")
	}
	return nil
}

// Store reads and writes the anomalies table.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// NewStore returns a store on d; now nil means time.Now.
func NewStore(d *db.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, now: now}
}

// Insert stores e unless an event with the same id exists; it reports
// whether a row was written. ON CONFLICT DO NOTHING is understood by
// SQLite (3.24+) and PostgreSQL alike.
func (s *Store) Insert(ctx context.Context, e *Event) (bool, error) {
	res, err := s.db.Exec(ctx, `INSERT INTO anomalies
		(event_id, detected_at, rule, principal_kind, principal_id, details, gateway_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		e.EventID, db.Micros(e.DetectedAt), e.Rule, e.PrincipalKind, e.PrincipalID, string(e.Details), e.GatewayID, db.Micros(s.now()))
	if err != nil {
		return false, fmt.Errorf("insert anomaly %s: %w", e.EventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert anomaly %s: %w", e.EventID, err)
	}
	return n > 0, nil
}

// Filter narrows a listing; empty fields match everything.
type Filter struct {
	Rule, PrincipalKind, PrincipalID string
}

func (f Filter) scope() string {
	return page.Scope("anomalies", map[string]string{"rule": f.Rule, "principal_kind": f.PrincipalKind, "principal_id": f.PrincipalID})
}

// List returns up to limit events of the last ListWindow, newest first,
// walking the (detected_at, id) index from pos (nil: the newest). Next goes
// to older events, Prev to newer ones. It fetches one row more than limit
// to learn whether the walk goes on.
func (s *Store) List(ctx context.Context, f Filter, pos *page.Position, limit int) ([]*Event, bool, error) {
	where := []string{"detected_at >= ?"}
	args := []any{db.Micros(s.now().Add(-ListWindow))}
	for _, c := range []struct{ col, val string }{{"rule", f.Rule}, {"principal_kind", f.PrincipalKind}, {"principal_id", f.PrincipalID}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	order := "detected_at DESC, id DESC"
	if pos != nil {
		// Row values let the planner use the index range directly.
		if pos.Dir == page.Next {
			where = append(where, "(detected_at, id) < (?, ?)")
		} else {
			where = append(where, "(detected_at, id) > (?, ?)")
			order = "detected_at, id"
		}
		args = append(args, pos.CreatedAt, pos.ID)
	}
	q := `SELECT id, event_id, detected_at, rule, principal_kind, principal_id, details, gateway_id
		FROM anomalies WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ?`
	rows, err := s.db.Query(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("list anomalies: %w", err)
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var (
			e       Event
			at      int64
			details string
		)
		if err := rows.Scan(&e.id, &e.EventID, &at, &e.Rule, &e.PrincipalKind, &e.PrincipalID, &details, &e.GatewayID); err != nil {
			return nil, false, fmt.Errorf("scan anomaly: %w", err)
		}
		e.DetectedAt, e.Details = db.FromMicros(at), json.RawMessage(details)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list anomalies: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if pos != nil && pos.Dir == page.Prev {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, more, nil
}
