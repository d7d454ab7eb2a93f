package hub

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
	"go.uber.org/zap"
)

// forgetRevokedFor is how long a revoked jti is remembered: longer than any
// access token lives.
const forgetRevokedFor = 2 * time.Hour

// followRevocations long-polls the upstream's revocation feed and applies
// each event to the caches. A long poll answers as soon as an event is
// written, so every instance hears of a revocation well within a second.
func (r *Resolver) followRevocations(ctx context.Context) {
	since := int64(-1)
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		page, err := r.pollRevocations(ctx, since)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("revocation feed unreachable", zap.Error(err), zap.Duration("retry_in", backoff))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		if since < 0 || page.LastSeq < since {
			// First contact, or the feed went backwards (its database was
			// replaced): what is cached cannot be vouched for, start clean.
			r.resetCaches()
		}
		r.apply(page.Events)
		since = page.LastSeq
		r.mu.Lock()
		r.feedOK = r.now()
		r.mu.Unlock()
	}
}

func (r *Resolver) pollRevocations(ctx context.Context, since int64) (*contract.RevocationPage, error) {
	wait := int(r.cfg.RevocationWait / time.Second)
	if since < 0 {
		wait = 0
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RevocationWait+10*time.Second)
	defer cancel()
	var page contract.RevocationPage
	resp, err := r.client.Do(cctx, InternalCall{Method: http.MethodGet,
		Path: fmt.Sprintf("%s?since=%d&wait=%d", contract.PathRevocations, since, wait), Out: &page})
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("revocation feed answered %d", resp.Status)
	}
	return &page, nil
}

func (r *Resolver) resetCaches() {
	r.mu.Lock()
	r.keys = make(map[string]*keyEntry)
	r.mu.Unlock()
}

// apply evicts what each event names.
func (r *Resolver) apply(events []contract.RevocationEvent) {
	if len(events) == 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range events {
		switch ev.Kind {
		case contract.RevokedAPIKey:
			delete(r.keys, ev.ID)
			r.tombstones[ev.ID] = now
		case contract.RevokedToken:
			r.revokedJTI[ev.ID] = now.Add(forgetRevokedFor)
		case contract.RevokedUser:
			at := ev.At
			if at.IsZero() {
				at = now
			}
			r.userCut[ev.ID] = at
			for id, e := range r.keys {
				if e.rec != nil && e.rec.UserID == ev.ID {
					delete(r.keys, id)
					r.tombstones[id] = now
				}
			}
		case contract.RevokedClient:
			// An OAuth2 client revoked for good: every access token it
			// holds was issued before the event.
			at := ev.At
			if at.IsZero() {
				at = now
			}
			r.clientCut[ev.ID] = at
		default:
			// Unknown kinds drop every cached key: safe, and the cache
			// refills on demand.
			r.keys = make(map[string]*keyEntry)
		}
		r.log.Info("credential revoked", zap.String("kind", ev.Kind), zap.String("id", ev.ID), zap.Int64("seq", ev.Seq))
	}
	for k, t := range r.tombstones {
		if now.Sub(t) > time.Minute {
			delete(r.tombstones, k)
		}
	}
	for k, t := range r.clientCut {
		// A client cut outlives every token it cuts (access tokens live
		// one hour), then goes; user cuts stay (users are not recreated).
		if now.Sub(t) > forgetRevokedFor {
			delete(r.clientCut, k)
		}
	}
	for k, t := range r.revokedJTI {
		if now.After(t) {
			delete(r.revokedJTI, k)
		}
	}
}
