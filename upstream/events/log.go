package events

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// DeliveryInfo is one row of a subscriber's delivery log.
type DeliveryInfo struct {
	// ID is the delivery's id (for redelivery).
	ID int64 `json:"id"`
	// EventID and EventType name the event delivered.
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Status is pending, succeeded or failed.
	Status string `json:"status"`
	// Attempts counts the attempts made.
	Attempts int `json:"attempts"`
	// LastStatus is the HTTP status of the last attempt (null: none).
	LastStatus *int `json:"last_status"`
	// LastError says why the last attempt failed ("" when it did not).
	LastError string `json:"last_error"`
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// LastAttemptAt, DeliveredAt and CreatedAt are null until they happen.
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

// ErrNoDelivery is a delivery id that is not the subscriber's.
var ErrNoDelivery = errors.New("no such delivery")

// Deliveries returns the newest limit deliveries of subscriber (kind, id),
// newest first, starting below before (0: from the newest).
func Deliveries(ctx context.Context, d *db.DB, kind, id string, before int64, limit int) ([]DeliveryInfo, error) {
	q := `SELECT x.id, x.event_id, e.type, x.status, x.attempts, x.last_status, x.last_error, x.next_attempt_at,
		x.last_attempt_at, x.delivered_at, x.created_at
		FROM event_deliveries x JOIN events e ON e.id = x.event_id
		WHERE x.target_kind = ? AND x.target_id = ?`
	args := []any{kind, id}
	if before > 0 {
		q, args = q+` AND x.id < ?`, append(args, before)
	}
	rows, err := d.Query(ctx, q+` ORDER BY x.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []DeliveryInfo{}
	for rows.Next() {
		var x DeliveryInfo
		var ls sql.NullInt64
		var next, last, done sql.NullInt64
		var created int64
		if err := rows.Scan(&x.ID, &x.EventID, &x.EventType, &x.Status, &x.Attempts, &ls, &x.LastError, &next,
			&last, &done, &created); err != nil {
			return nil, err
		}
		if ls.Valid {
			v := int(ls.Int64)
			x.LastStatus = &v
		}
		if x.Status == "pending" {
			x.NextAttemptAt = optTime(next)
		}
		x.LastAttemptAt, x.DeliveredAt, x.CreatedAt = optTime(last), optTime(done), db.FromMicros(created)
		out = append(out, x)
	}
	return out, rows.Err()
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := db.FromMicros(v.Int64)
	return &t
}

// Redeliver queues the event of delivery deliveryID again for subscriber
// (kind, id), as a new delivery due now, and returns the new delivery's id.
// The event keeps its id, so a receiver that already has it can tell.
func Redeliver(ctx context.Context, d *db.DB, kind, id string, deliveryID int64, now time.Time) (int64, error) {
	var eventID string
	err := d.QueryRow(ctx, `SELECT event_id FROM event_deliveries WHERE id = ? AND target_kind = ? AND target_id = ?`,
		deliveryID, kind, id).Scan(&eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoDelivery
	}
	if err != nil {
		return 0, err
	}
	us := db.Micros(now)
	return d.InsertID(ctx, nil, `INSERT INTO event_deliveries (event_id, target_kind, target_id, status, attempts, next_attempt_at, created_at)
		VALUES (?, ?, ?, 'pending', 0, ?, ?)`, eventID, kind, id, us, us)
}
