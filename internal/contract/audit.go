package contract

import "github.com/hubchantier/hubgate/internal/auditchain"

// AuditBatch is the body of POST /internal/audit: records of one gateway's
// chain, in order, and the signed head of the chain after the last one.
// The store ignores records whose event id it already has, so a gateway
// may send a batch again. (The gateway writes this shape from the records'
// JSON as journaled, without decoding them.)
type AuditBatch struct {
	// Records are the audit records (at most 10000 per batch).
	Records []auditchain.Record `json:"records"`
	// Checkpoint is the signed chain head after Records; the store keeps
	// it outside the records so that deleting the newest ones shows.
	Checkpoint *auditchain.Checkpoint `json:"checkpoint,omitempty"`
}
