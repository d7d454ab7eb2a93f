package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Append writes ev to the outbox inside tx, the transaction of the change
// it reports: rolled back with it, committed with it. It never sends
// anything; the Dispatcher does, after the commit.
func Append(ctx context.Context, d *db.DB, tx *sql.Tx, ev Event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.Type, err)
	}
	var owner any
	if ev.owner != 0 {
		owner = ev.owner
	}
	_, err = tx.ExecContext(ctx, d.Rebind(`INSERT INTO events (id, type, occurred_at, owner_id, payload) VALUES (?, ?, ?, ?, ?)`),
		ev.ID, ev.Type, db.Micros(ev.Timestamp), owner, string(payload))
	if err != nil {
		return fmt.Errorf("append event %s: %w", ev.Type, err)
	}
	return nil
}

// Stored is an outbox row as the dispatcher reads it.
type Stored struct {
	// Seq orders events in the outbox.
	Seq int64
	// ID, Type: the envelope's.
	ID, Type string
	// Owner is the user the event is scoped to (0: none, see ForOwner).
	Owner int64
	// Payload is the envelope as JSON, the exact bytes delivered.
	Payload []byte
}
