package hubbatch

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// atomic runs the operations in order inside one upstream transaction:
// the upstream opens it for the batch's caller (POST /internal/batch-tx),
// every operation goes through the server as usual and reaches the
// upstream with the transaction's id (X-Hub-Tx, from {hub.batch.tx}), and
// the first failing operation stops the batch and rolls everything back:
// it keeps its error, every other operation gets 424. When all succeed the
// transaction is committed.
func (br *batchRun) atomic() {
	internal := br.h.internal()
	id := br.link.Identity
	if internal == nil || id == nil || id.Subject == "" {
		br.fillAll(problem.New(http.StatusServiceUnavailable, "batch-tx-unavailable", "Atomic batches unavailable",
			"this gateway cannot open upstream transactions (no hub app, or an anonymous caller)"))
		return
	}
	// The transaction lives a little longer than the batch's deadline: the
	// deadline cancels the operations and the rollback comes right after.
	var tx contract.BatchTx
	resp, err := internal.Do(br.ctx, hub.InternalCall{
		Method: http.MethodPost, Path: contract.PathBatchTxBegin,
		Body:    contract.BatchTxBegin{Subject: id.Subject, KeyID: id.KeyID, TimeoutMS: (time.Duration(br.h.Timeout) + 5*time.Second).Milliseconds()},
		Out:     &tx,
		Timeout: 10 * time.Second,
	})
	if err != nil || !resp.OK() || tx.ID == "" {
		br.h.log.Warn("opening an atomic batch's transaction", zap.Error(err), zap.Int("status", resp.Status))
		br.fillAll(problem.New(http.StatusServiceUnavailable, "batch-tx-unavailable", "Atomic batch unavailable",
			"the upstream could not open a transaction; nothing was applied, retry later"))
		return
	}
	failed := -1
	for i := range br.ops {
		res := br.one(i, tx.ID)
		br.results[i] = res
		if !res.ok() {
			failed = i
			break
		}
	}
	// Ending the transaction must happen even once the batch's context
	// is cancelled (deadline, client gone).
	end := context.WithoutCancel(br.ctx)
	if failed < 0 {
		resp, err = internal.Do(end, hub.InternalCall{Method: http.MethodPost, Path: contract.PathBatchTxCommit, Body: tx, Timeout: 30 * time.Second})
		if err == nil && resp.Status == http.StatusNoContent {
			return
		}
		br.h.log.Error("committing an atomic batch", zap.Error(err), zap.Int("status", resp.Status))
		br.fillAll(problem.New(http.StatusConflict, "batch-tx-failed", "Atomic batch not applied",
			"the batch's transaction could not be committed; nothing was applied"))
		return
	}
	if resp, err := internal.Do(end, hub.InternalCall{Method: http.MethodPost, Path: contract.PathBatchTxRollback, Body: tx, Timeout: 30 * time.Second}); err != nil || !resp.OK() {
		// The upstream rolls it back at its deadline anyway.
		br.h.log.Warn("rolling back an atomic batch", zap.Error(err), zap.Int("status", resp.Status))
	}
	for i := range br.results {
		if i != failed {
			br.results[i] = problemResult(problem.New(http.StatusFailedDependency, "batch-rolled-back", "Failed Dependency",
				fmt.Sprintf("atomic batch rolled back: operation %d failed", failed)).With("operation", failed))
		}
	}
}

// fillAll gives every operation the same result.
func (br *batchRun) fillAll(p *problem.Problem) {
	for i := range br.results {
		br.results[i] = problemResult(p)
	}
}

// internal returns the hub app's client of the upstream's internal API.
func (h *Handler) internal() *hub.InternalClient {
	if h.app == nil {
		return nil
	}
	return h.app.Internal()
}
