package audit

import (
	"context"
	"fmt"
	"sort"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// Kinds of break, stable for scripts reading `audit verify --json`.
const (
	BreakHashMismatch       = "hash_mismatch"       // the record's content does not hash to its hash
	BreakFork               = "fork"                // two records with one seq
	BreakSeqGap             = "seq_gap"             // records missing inside the chain
	BreakPrevHash           = "prev_hash_mismatch"  // prev_hash is not the previous record's hash
	BreakFirstPrevHash      = "first_has_prev_hash" // seq 1 with a prev_hash
	BreakMissingTail        = "missing_tail"        // the chain stops before its checkpoint
	BreakCheckpointMismatch = "checkpoint_mismatch" // the record at the checkpoint's seq has another hash
	BreakBadCheckpoint      = "bad_checkpoint"      // the checkpoint's signature does not verify
	BreakNoCheckpoint       = "no_checkpoint"       // a chain without checkpoint: its tail cannot be checked
)

// Break is the first place where a gateway's chain does not hold.
type Break struct {
	GatewayID string `json:"gateway_id"`
	// Seq is the first bad record's seq (for a missing tail: the first
	// missing one).
	Seq int64 `json:"seq"`
	// EventID is the bad record's event id ("" when it is missing).
	EventID string `json:"event_id,omitempty"`
	// Kind is one of the Break* constants.
	Kind string `json:"kind"`
	// Reason says what differs, in words.
	Reason string `json:"reason"`
}

// String is the one-line report of b.
func (b *Break) String() string {
	s := fmt.Sprintf("gateway %s, seq %d", b.GatewayID, b.Seq)
	if b.EventID != "" {
		s += ", event " + b.EventID
	}
	return s + ": " + b.Reason
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// AllowUnanchored accepts chains without a checkpoint (records shipped
	// by gateways older than checkpoints); their newest records cannot be
	// checked. Default: such a chain is a break, since a deleted
	// checkpoint row would otherwise hide a truncation.
	AllowUnanchored bool
	// Expect are chain heads known from outside the database (the
	// gateway's hub_audit_chain_head_seq metric, or its "audit journal
	// closed" log line): gateway id → seq the stored chain must reach. A
	// checkpoint can be replayed by whoever kept an old one; these cannot.
	Expect map[string]int64
}

// VerifyResult sums up a verification.
type VerifyResult struct {
	Gateways int   `json:"gateways"`
	Records  int64 `json:"records"`
	// Starts notes chains whose oldest stored record is not seq 1 (older
	// records removed by retention): gateway id → first seq.
	Starts map[string]int64 `json:"starts,omitempty"`
	// Heads are the checkpoints each chain was checked against: gateway
	// id → checkpointed seq.
	Heads map[string]int64 `json:"heads,omitempty"`
	// Unanchored lists chains without a checkpoint (AllowUnanchored).
	Unanchored []string `json:"unanchored,omitempty"`
	// SignaturesChecked is false when the store has no gateway secret
	// (WithGatewaySecret): checkpoints were then used unverified.
	SignaturesChecked bool `json:"signatures_checked"`
	// Break is nil when every chain holds.
	Break *Break `json:"break,omitempty"`
}

// Verify walks every gateway's chain in seq order and stops at the first
// break. Each record's hash must match its content (the IP enters as its
// anonymized prefix, so the retention job's anonymization keeps it valid,
// while any other change to a stored record breaks it), each prev_hash
// must equal the previous record's hash, and seqs must follow each other.
// Each chain must then reach its checkpoint (the gateway's signed head,
// stored in audit_checkpoints), with the same hash there: a hash chain
// alone cannot show that its newest records were deleted.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyResult, error) {
	res := VerifyResult{Starts: map[string]int64{}, Heads: map[string]int64{}, SignaturesChecked: len(s.checkpointKeys) > 0}
	cps, err := s.checkpoints(ctx)
	if err != nil {
		return res, err
	}
	gws := make([]string, 0, len(cps))
	for gw := range cps {
		gws = append(gws, gw)
	}
	sort.Strings(gws)
	for _, gw := range gws {
		if res.Break = s.checkSignature(cps[gw]); res.Break != nil {
			return res, nil
		}
	}
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM audit_logs ORDER BY gateway_id, seq, ts`)
	if err != nil {
		return res, fmt.Errorf("verify audit logs: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var prev *auditchain.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return res, fmt.Errorf("scan audit log: %w", err)
		}
		res.Records++
		if prev == nil || prev.GatewayID != r.GatewayID {
			if prev != nil {
				if res.Break = s.checkTail(prev, cps, opts, &res); res.Break != nil {
					return res, nil
				}
			}
			res.Gateways++
			seen[r.GatewayID] = true
			if r.Seq != 1 {
				res.Starts[r.GatewayID] = r.Seq
			}
			prev = nil
		}
		if res.Break = checkLink(prev, &r); res.Break == nil {
			if cp, ok := cps[r.GatewayID]; ok && cp.Seq == r.Seq && cp.Hash != r.Hash {
				res.Break = &Break{GatewayID: r.GatewayID, Seq: r.Seq, EventID: r.EventID, Kind: BreakCheckpointMismatch,
					Reason: fmt.Sprintf("the checkpoint of seq %d holds hash %s, the stored record %s (replaced record)", r.Seq, short(cp.Hash), short(r.Hash))}
			}
		}
		if res.Break != nil {
			return res, nil
		}
		rc := r
		prev = &rc
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	if prev != nil {
		if res.Break = s.checkTail(prev, cps, opts, &res); res.Break != nil {
			return res, nil
		}
	}
	// A chain with no record left (every record deleted) that a checkpoint
	// or an expected head says exists.
	heads := map[string]int64{}
	for gw, cp := range cps {
		heads[gw] = cp.Seq
	}
	for gw, seq := range opts.Expect {
		heads[gw] = max(heads[gw], seq)
	}
	gone := make([]string, 0, len(heads))
	for gw := range heads {
		if !seen[gw] && heads[gw] > 0 {
			gone = append(gone, gw)
		}
	}
	sort.Strings(gone)
	for _, gw := range gone {
		res.Break = &Break{GatewayID: gw, Seq: heads[gw], Kind: BreakMissingTail,
			Reason: fmt.Sprintf("no record of this chain is stored, but its checkpoint or expected head says it reaches seq %d (records deleted)", heads[gw])}
		return res, nil
	}
	return res, nil
}

// checkLink checks r and its link to prev (nil for a chain's first stored
// record).
func checkLink(prev, r *auditchain.Record) *Break {
	brk := func(kind, reason string) *Break {
		return &Break{GatewayID: r.GatewayID, Seq: r.Seq, EventID: r.EventID, Kind: kind, Reason: reason}
	}
	switch {
	case !r.Check():
		c, _ := r.Canonical()
		return brk(BreakHashMismatch, fmt.Sprintf("the record's content hashes to %s, its stored hash is %s (modified record)",
			short(auditchain.Sum(r.PrevHash, c)), short(r.Hash)))
	case prev != nil && r.Seq == prev.Seq:
		return brk(BreakFork, fmt.Sprintf("two records with seq %d (forked chain)", r.Seq))
	case prev != nil && r.Seq != prev.Seq+1:
		return brk(BreakSeqGap, fmt.Sprintf("records %d to %d are missing before it (seq gap: deleted records)", prev.Seq+1, r.Seq-1))
	case prev != nil && r.PrevHash != prev.Hash:
		return brk(BreakPrevHash, fmt.Sprintf("prev_hash %s is not the hash %s of record %d (inserted or replaced record)",
			short(r.PrevHash), short(prev.Hash), prev.Seq))
	case prev == nil && r.Seq == 1 && r.PrevHash != "":
		return brk(BreakFirstPrevHash, "the first record of the chain has a prev_hash")
	}
	return nil
}

// checkTail checks that the chain ending at last reaches its checkpoint
// and its expected head.
func (s *Store) checkTail(last *auditchain.Record, cps map[string]auditchain.Checkpoint, opts VerifyOptions, res *VerifyResult) *Break {
	gw := last.GatewayID
	want, by := int64(0), ""
	if cp, ok := cps[gw]; ok {
		res.Heads[gw] = cp.Seq
		want, by = cp.Seq, "its checkpoint"
	}
	if e := opts.Expect[gw]; e > want {
		want, by = e, "the expected head (--expect)"
	}
	if by == "" {
		if opts.AllowUnanchored {
			res.Unanchored = append(res.Unanchored, gw)
			return nil
		}
		return &Break{GatewayID: gw, Seq: last.Seq, EventID: last.EventID, Kind: BreakNoCheckpoint,
			Reason: fmt.Sprintf("the chain has no checkpoint, so records after seq %d may have been deleted (checkpoint row deleted, or records from a gateway older than checkpoints: --allow-unanchored)", last.Seq)}
	}
	if last.Seq < want {
		return &Break{GatewayID: gw, Seq: last.Seq + 1, Kind: BreakMissingTail,
			Reason: fmt.Sprintf("records %d to %d are missing after the last stored record: %s says the chain reaches seq %d (missing tail: newest records deleted)",
				last.Seq+1, want, by, want)}
	}
	return nil
}

func (s *Store) checkSignature(cp auditchain.Checkpoint) *Break {
	if len(s.checkpointKeys) == 0 || s.checkpointValid(&cp) {
		return nil
	}
	return &Break{GatewayID: cp.GatewayID, Seq: cp.Seq, Kind: BreakBadCheckpoint,
		Reason: "the checkpoint's signature does not verify (forged or altered checkpoint, or another HUB_GATEWAY_SECRET)"}
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	if h == "" {
		return `""`
	}
	return h
}
