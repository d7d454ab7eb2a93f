package contract

// Atomic batches (issue 14, docs/batch.md): the gateway's hub_batch opens
// one upstream transaction for the whole batch, sends every operation with
// the transaction's id in TxHeader, then commits it or rolls it back.
const (
	// PathBatchTxBegin takes a BatchTxBegin and answers 201 with a BatchTx.
	PathBatchTxBegin = "/internal/batch-tx"
	// PathBatchTxCommit takes a BatchTx and answers 204 once committed;
	// 409 when the transaction is gone (rolled back at its deadline).
	PathBatchTxCommit = "/internal/batch-tx/commit"
	// PathBatchTxRollback takes a BatchTx and answers 204 (also when the
	// transaction is already gone).
	PathBatchTxRollback = "/internal/batch-tx/rollback"
	// TxHeader names the transaction a proxied /api/* request runs in. The
	// gateway sets it (header_up X-Hub-Tx {hub.batch.tx}) and strips any
	// client-sent X-Hub-* header; the upstream honours it only for a
	// request whose verified assertion names the transaction's caller.
	TxHeader = "X-Hub-Tx"
)

// BatchTxBegin asks for a transaction bound to one caller.
type BatchTxBegin struct {
	// Subject and KeyID are the caller's (the assertion's sub and key id):
	// only requests asserted for the same caller may use the transaction.
	Subject string `json:"subject"`
	KeyID   string `json:"key_id,omitempty"`
	// TimeoutMS bounds the transaction's life: the upstream rolls it back
	// when it has not been committed by then (SQLite has one writer).
	TimeoutMS int64 `json:"timeout_ms"`
}

// BatchTx names an open transaction.
type BatchTx struct {
	ID string `json:"id"`
}
