// Package audit is the upstream's audit store: the audit_logs table that
// gateways ship their journals to (POST /internal/audit, idempotent by
// event id), the admin query API (GET /api/v1/admin/audit-logs), chain
// verification against each gateway's signed checkpoint (audit_checkpoints)
// and the retention job. The table is append-only: this
// package has no update or delete path except retention (retention.go),
// and database triggers refuse any other.
package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/page"
)

// Store reads and writes audit_logs.
type Store struct {
	db      *db.DB
	cursors *page.Codec
	now     func() time.Time
	// checkpointKeys verify chain checkpoints (WithGatewaySecret): the
	// current secret's and, during a rollover, the accepted one's; none:
	// signatures are not checked, and ingest refuses checkpoints.
	checkpointKeys [][]byte

	mu         sync.Mutex
	partitions map[string]bool // PostgreSQL months known to exist
}

// New returns the store on d; cursorKey signs list cursors.
func New(d *db.DB, cursorKey []byte) *Store {
	return &Store{db: d, cursors: page.NewCodec(cursorKey), now: time.Now, partitions: map[string]bool{}}
}

// columns of audit_logs in Record order (id excluded), then the members
// added later.
const columns = `event_id, gateway_id, seq, request_id, ts, user_id, api_key_id, oauth_client_id, auth_method, action, resource_type, resource_id, http_method, endpoint, path, status_code, latency_ms, ip_address, user_agent, request_body_hash, changes, prev_hash, hash, client_request_id, attempted_user_id, batch_request_id, graphql, idempotent_replay_of`

// numColumns counts columns, so a new column cannot leave the INSERT's
// placeholders behind (two branches adding one each once did).
var numColumns = strings.Count(columns, ",") + 1

// insertChunk bounds the rows of one INSERT (numColumns+1 placeholders each).
const insertChunk = 200

func args(r *auditchain.Record, receivedAt int64) []any {
	var changes any
	if len(r.Changes) > 0 && string(r.Changes) != "null" {
		changes = string(r.Changes)
	}
	var gql any
	if len(r.GraphQL) > 0 && string(r.GraphQL) != "null" {
		gql = string(r.GraphQL)
	}
	return []any{r.EventID, r.GatewayID, r.Seq, r.RequestID, db.Micros(r.Timestamp), r.UserID, r.APIKeyID,
		r.OAuthClientID, r.AuthMethod, r.Action, r.ResourceType, r.ResourceID, r.HTTPMethod, r.Endpoint,
		r.Path, r.StatusCode, r.LatencyMS, r.IPAddress, r.UserAgent, r.RequestBodyHash, changes,
		r.PrevHash, r.Hash, r.ClientRequestID, r.AttemptedUserID, r.BatchRequestID, gql, r.IdempotentReplayOf, receivedAt}
}

// Insert stores records, ignoring those whose event id is already stored
// (a gateway re-sends a batch after a crash or a lost answer). It returns
// how many rows were new.
func (s *Store) Insert(ctx context.Context, recs []auditchain.Record) (int64, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	if err := s.ensurePartitions(ctx, recs); err != nil {
		return 0, err
	}
	now := db.Micros(s.now())
	var inserted int64
	for start := 0; start < len(recs); start += insertChunk {
		chunk := recs[start:min(start+insertChunk, len(recs))]
		var q strings.Builder
		q.WriteString(`INSERT INTO audit_logs (` + columns + `, received_at) VALUES `)
		vals := make([]any, 0, len(chunk)*(numColumns+1))
		row := "(?" + strings.Repeat(", ?", numColumns) + ")"
		for i := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
			vals = append(vals, args(&chunk[i], now)...)
		}
		q.WriteString(` ON CONFLICT DO NOTHING`)
		res, err := s.db.Exec(ctx, q.String(), vals...)
		if err != nil {
			return inserted, fmt.Errorf("insert audit records: %w", err)
		}
		n, _ := res.RowsAffected()
		inserted += n
	}
	return inserted, nil
}

// scanRecord reads a row selected with columns.
func scanRecord(sc interface{ Scan(...any) error }, extra ...any) (auditchain.Record, error) {
	var r auditchain.Record
	var ts int64
	var changes, gql sql.NullString
	dest := append([]any{&r.EventID, &r.GatewayID, &r.Seq, &r.RequestID, &ts, &r.UserID, &r.APIKeyID,
		&r.OAuthClientID, &r.AuthMethod, &r.Action, &r.ResourceType, &r.ResourceID, &r.HTTPMethod, &r.Endpoint,
		&r.Path, &r.StatusCode, &r.LatencyMS, &r.IPAddress, &r.UserAgent, &r.RequestBodyHash, &changes,
		&r.PrevHash, &r.Hash, &r.ClientRequestID, &r.AttemptedUserID, &r.BatchRequestID, &gql, &r.IdempotentReplayOf}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return r, err
	}
	r.Timestamp = db.FromMicros(ts)
	if changes.Valid {
		r.Changes = json.RawMessage(changes.String)
	}
	if gql.Valid {
		r.GraphQL = json.RawMessage(gql.String)
	}
	return r, nil
}

// monthStart returns the first instant of t's month, UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// partitionName names the partition of the month starting at m.
func partitionName(m time.Time) string {
	return fmt.Sprintf("audit_logs_p%04d%02d", m.Year(), int(m.Month()))
}

// ensurePartitions creates the monthly partitions the records fall in
// (PostgreSQL only; SQLite has one table).
func (s *Store) ensurePartitions(ctx context.Context, recs []auditchain.Record) error {
	if s.db.Dialect != db.Postgres {
		return nil
	}
	months := map[time.Time]bool{}
	for i := range recs {
		months[monthStart(recs[i].Timestamp)] = true
	}
	for m := range months {
		if err := s.EnsurePartition(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// EnsurePartition creates the partition of the month holding t if it does
// not exist (PostgreSQL; a no-op on SQLite). Concurrent callers (several
// upstream instances) serialise on an advisory lock.
func (s *Store) EnsurePartition(ctx context.Context, t time.Time) error {
	if s.db.Dialect != db.Postgres {
		return nil
	}
	m := monthStart(t)
	name := partitionName(m)
	s.mu.Lock()
	known := s.partitions[name]
	s.mu.Unlock()
	if known {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7262005)`); err != nil {
		return fmt.Errorf("lock audit partitions: %w", err)
	}
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF audit_logs FOR VALUES FROM (%d) TO (%d)`,
		name, db.Micros(m), db.Micros(m.AddDate(0, 1, 0)))
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create audit partition %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.mu.Lock()
	s.partitions[name] = true
	s.mu.Unlock()
	return nil
}
