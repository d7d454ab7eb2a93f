package hubauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

// DefaultFailedAuth is the default limit on failed authentications per
// client network.
const DefaultFailedAuth = "20/minute"

// maxThrottled bounds the networks remembered as throttled; past it, the
// expired ones are dropped, and if none has expired the memory is cleared
// (the shared limiter still knows: the next failure throttles again).
const maxThrottled = 1 << 16

// failures limits failed authentications per client network (issue 10,
// #8): every unknown key id costs the upstream an introspection, every
// bad JWT a signature check, so guessing must not be free.
//
// Failures are counted in the shared limiter (GCRA, so every instance
// sharing Redis counts them together). A failure the limiter refuses
// marks the network as throttled in this instance until the limiter's
// Retry-After: from then on every credential from the network is refused
// with 429 before it is looked at, valid or not, so the upstream sees
// nothing more from it. Successes are never counted and never refused
// while the network is under its limit.
type failures struct {
	limiter  hub.Limiter
	fallback hub.Limiter
	rates    []hub.Rate
	log      *zap.Logger

	mu        sync.Mutex
	throttled map[string]time.Time // client network -> refused until
}

// errThrottled is a credential attempt from a throttled network.
type errThrottled struct{ retry time.Duration }

func (e *errThrottled) Error() string { return "too many failed authentications" }

// compileFailures parses FailedAuth and wires the limiter, which may be nil
// only when FailedAuth is off.
func (h *Handler) compileFailures(lim hub.Limiter) error {
	h.failures = nil
	if len(h.FailedAuth) == 0 {
		h.FailedAuth = []string{DefaultFailedAuth}
	}
	if len(h.FailedAuth) == 1 && h.FailedAuth[0] == "off" {
		return nil
	}
	f := &failures{limiter: lim, fallback: hub.FallbackLimiter(), log: h.log, throttled: make(map[string]time.Time)}
	seen := map[time.Duration]bool{}
	for _, s := range h.FailedAuth {
		r, err := hub.ParseRate(s)
		if err != nil {
			return fmt.Errorf("failed_auth: %w", err)
		}
		if seen[r.Period] {
			return fmt.Errorf("failed_auth: two rates per %s", r.Period)
		}
		seen[r.Period] = true
		f.rates = append(f.rates, r)
	}
	if lim == nil {
		return errors.New("failed_auth: the store cannot count failures (set failed_auth off)")
	}
	h.failures = f
	return nil
}

// check returns an *errThrottled if network is throttled at now.
func (f *failures) check(network string, now time.Time) error {
	f.mu.Lock()
	until, ok := f.throttled[network]
	f.mu.Unlock()
	if ok && now.Before(until) {
		return &errThrottled{retry: until.Sub(now)}
	}
	return nil
}

// record counts one failure of network; it returns an *errThrottled when
// the failure is over the limit (the network is then throttled).
func (f *failures) record(ctx context.Context, network string, now time.Time) error {
	ws := make([]hub.Window, len(f.rates))
	tag := "authfail:{ip:" + hub.SafeKeyPart(network) + "}:"
	for i, r := range f.rates {
		ws[i] = hub.Window{Key: tag + strconv.FormatInt(int64(r.Period/time.Second), 10), Limit: r.Limit, Period: r.Period}
	}
	d, err := f.limiter.Allow(ctx, ws)
	if err != nil && !errors.Is(err, hub.ErrBadWindow) && ctx.Err() == nil {
		f.log.Debug("failed_auth: shared store failed, counting locally", zap.Error(err))
		d, err = f.fallback.Allow(ctx, ws)
	}
	if err != nil || d.Allowed {
		return nil
	}
	retry := max(d.RetryAfter(), time.Second)
	f.mu.Lock()
	if len(f.throttled) >= maxThrottled {
		for n, until := range f.throttled {
			if !now.Before(until) {
				delete(f.throttled, n)
			}
		}
		if len(f.throttled) >= maxThrottled {
			f.throttled = make(map[string]time.Time)
		}
	}
	f.throttled[network] = now.Add(retry)
	f.mu.Unlock()
	return &errThrottled{retry: retry}
}

// countsAsFailure reports whether a resolver error is a failed
// authentication (not the upstream's unavailability).
func countsAsFailure(r *http.Request, err error) bool {
	return !errors.Is(err, hub.ErrUnavailable) && r.Context().Err() == nil
}
