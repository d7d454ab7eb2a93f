package audit

import (
	"context"
	"fmt"

	"github.com/hubchantier/hubgate/upstream/audit/chain"
)

// Break is the first place where a gateway's chain does not hold.
type Break struct {
	GatewayID string `json:"gateway_id"`
	Seq       int64  `json:"seq"`
	EventID   string `json:"event_id"`
	// Reason says what is wrong: the record's hash does not match its
	// content, its prev_hash is not the previous record's hash, or records
	// are missing before it.
	Reason string `json:"reason"`
}

// VerifyResult sums up a verification.
type VerifyResult struct {
	Gateways int   `json:"gateways"`
	Records  int64 `json:"records"`
	// Starts notes chains whose oldest stored record is not seq 1 (older
	// records removed by retention): gateway id → first seq.
	Starts map[string]int64 `json:"starts,omitempty"`
	// Break is nil when every chain holds.
	Break *Break `json:"break,omitempty"`
}

// Verify walks every gateway's chain in seq order and stops at the first
// break. Each record's hash must match its content (the IP enters as its
// anonymized prefix, so the retention job's anonymization keeps it valid,
// while any other change to a stored record breaks it), each prev_hash
// must equal the previous record's hash, and seqs must follow each other.
func (s *Store) Verify(ctx context.Context) (VerifyResult, error) {
	res := VerifyResult{Starts: map[string]int64{}}
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM audit_logs ORDER BY gateway_id, seq, ts`)
	if err != nil {
		return res, fmt.Errorf("verify audit logs: %w", err)
	}
	defer rows.Close()
	var prev *chain.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return res, fmt.Errorf("scan audit log: %w", err)
		}
		res.Records++
		brk := func(reason string) {
			res.Break = &Break{GatewayID: r.GatewayID, Seq: r.Seq, EventID: r.EventID, Reason: reason}
		}
		if prev == nil || prev.GatewayID != r.GatewayID {
			res.Gateways++
			if r.Seq != 1 {
				res.Starts[r.GatewayID] = r.Seq
			}
			prev = nil
		}
		switch {
		case !r.Check():
			brk("the record's hash does not match its content (modified record)")
		case prev != nil && r.Seq == prev.Seq:
			brk(fmt.Sprintf("two records with seq %d (forked chain)", r.Seq))
		case prev != nil && r.Seq != prev.Seq+1:
			brk(fmt.Sprintf("records %d to %d are missing", prev.Seq+1, r.Seq-1))
		case prev != nil && r.PrevHash != prev.Hash:
			brk("prev_hash is not the hash of the previous record (inserted or replaced record)")
		case prev == nil && r.Seq == 1 && r.PrevHash != "":
			brk("the first record of the chain has a prev_hash")
		}
		if res.Break != nil {
			return res, nil
		}
		rc := r
		prev = &rc
	}
	return res, rows.Err()
}
