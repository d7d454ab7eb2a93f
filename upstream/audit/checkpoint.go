package audit

import (
	"context"
	"fmt"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
)

// WithGatewaySecret sets the shared secret (HUB_GATEWAY_SECRET) from which
// the checkpoint key is derived: ingest refuses checkpoints it did not
// sign and Verify checks their signatures. accept are further secrets
// whose checkpoints verify too (HUB_GATEWAY_SECRET_ACCEPT during a
// rollover). It returns s.
func (s *Store) WithGatewaySecret(secret []byte, accept ...[]byte) *Store {
	for _, k := range append([][]byte{secret}, accept...) {
		if len(k) > 0 {
			s.checkpointKeys = append(s.checkpointKeys, auditchain.CheckpointKey(k))
		}
	}
	return s
}

// checkpointValid reports whether one of the keys signed cp.
func (s *Store) checkpointValid(cp *auditchain.Checkpoint) bool {
	for _, k := range s.checkpointKeys {
		if cp.Valid(k) {
			return true
		}
	}
	return false
}

// SaveCheckpoint keeps cp as its gateway's checkpoint unless a checkpoint
// with a higher seq is stored (a batch sent again after a crash carries an
// older one).
func (s *Store) SaveCheckpoint(ctx context.Context, cp auditchain.Checkpoint) error {
	_, err := s.db.Exec(ctx, `INSERT INTO audit_checkpoints (gateway_id, seq, hash, ts, mac, received_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (gateway_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, ts = excluded.ts,
			mac = excluded.mac, received_at = excluded.received_at
		WHERE excluded.seq > audit_checkpoints.seq`,
		cp.GatewayID, cp.Seq, cp.Hash, db.Micros(cp.Timestamp), cp.MAC, db.Micros(s.now()))
	if err != nil {
		return fmt.Errorf("save audit checkpoint of %s: %w", cp.GatewayID, err)
	}
	return nil
}

// checkpoints returns every gateway's checkpoint.
func (s *Store) checkpoints(ctx context.Context) (map[string]auditchain.Checkpoint, error) {
	rows, err := s.db.Query(ctx, `SELECT gateway_id, seq, hash, ts, mac FROM audit_checkpoints`)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]auditchain.Checkpoint{}
	for rows.Next() {
		var cp auditchain.Checkpoint
		var ts int64
		if err := rows.Scan(&cp.GatewayID, &cp.Seq, &cp.Hash, &ts, &cp.MAC); err != nil {
			return nil, fmt.Errorf("scan audit checkpoint: %w", err)
		}
		cp.Timestamp = db.FromMicros(ts)
		out[cp.GatewayID] = cp
	}
	return out, rows.Err()
}

// checkCheckpoint validates an ingested checkpoint against its batch.
func (s *Store) checkCheckpoint(cp *auditchain.Checkpoint, recs []auditchain.Record) string {
	switch {
	case cp.GatewayID == "" || len(cp.GatewayID) > 64 || cp.Seq < 1 || len(cp.Hash) != 64:
		return "checkpoint: gateway_id, seq and hash are required"
	case !s.checkpointValid(cp):
		return "checkpoint: signature does not verify"
	}
	for i := range recs {
		if recs[i].GatewayID == cp.GatewayID && recs[i].Seq == cp.Seq && recs[i].Hash != cp.Hash {
			return "checkpoint: hash differs from the batch's record"
		}
	}
	return ""
}
