package hub

import (
	"context"
	"net/http"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
	"go.uber.org/zap"
)

// noteUsage remembers that a key was used; reportUsage sends the batch.
// Tracking never adds a round trip to the request path.
func (r *Resolver) noteUsage(keyID string, now time.Time) {
	r.mu.Lock()
	r.usage[keyID] = now
	r.mu.Unlock()
	noteActiveKey(keyID, now) // active_api_keys (activekeys.go)
}

// reportUsage posts last-used times to the upstream every UsageInterval and
// once more on stop.
func (r *Resolver) reportUsage(ctx context.Context) {
	t := time.NewTicker(r.cfg.UsageInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flushUsage(context.Background())
			return
		case <-t.C:
			r.flushUsage(ctx)
		}
	}
}

func (r *Resolver) flushUsage(ctx context.Context) {
	r.mu.Lock()
	if len(r.usage) == 0 {
		r.mu.Unlock()
		return
	}
	batch := make(map[string]time.Time, len(r.usage))
	for k, v := range r.usage {
		batch[k] = v
	}
	r.usage = make(map[string]time.Time)
	r.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	report := contract.UsageReport{Keys: make(map[string]string, len(batch))}
	for k, v := range batch {
		report.Keys[k] = v.Format(time.RFC3339Nano)
	}
	resp, err := r.client.Do(cctx, InternalCall{Method: http.MethodPost, Path: contract.PathUsage, Body: report, Idempotent: true})
	if err != nil || resp.Status >= 300 {
		r.log.Debug("usage report failed; will retry", zap.Int("status", resp.Status), zap.Error(err))
		r.mu.Lock()
		for k, v := range batch {
			if cur, ok := r.usage[k]; !ok || cur.Before(v) {
				r.usage[k] = v
			}
		}
		r.mu.Unlock()
	}
}
