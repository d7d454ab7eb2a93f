package hubratelimit

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

// errUnavailable is returned by guard.allow when the store failed and the
// handler fails closed.
var errUnavailable = errors.New("rate limit store unavailable")

// limiterMetrics are this module's own collectors, created once per process
// so their values survive reloads (hub.RegisterCollectors puts them in each
// config's registry).
type limiterMetrics struct {
	storeErrors prometheus.Counter
	fallback    prometheus.Counter
}

var limiterM = &limiterMetrics{
	storeErrors: hub.NewCounter(prometheus.CounterOpts{
		Name: "hub_rate_limit_store_errors_total",
		Help: "Rate limit decisions the shared store (Redis) failed to make.",
	}),
	fallback: hub.NewCounter(prometheus.CounterOpts{
		Name: "hub_rate_limit_fallback_total",
		Help: "Rate limit decisions made by the local in-memory limiter while the shared store was unreachable (fail_open).",
	}),
}

func getMetrics() *limiterMetrics { return limiterM }

func (m *limiterMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.storeErrors, m.fallback}
}

// guard runs decisions on the shared limiter and handles its failures:
// after an error the store is left alone for retry (so a dead Redis costs
// one timeout per retry, not one per request), decisions go to the local
// fallback (fail open) or are refused (fail closed), and the first request
// after retry tries the store again, so recovery needs no action.
type guard struct {
	primary    hub.Limiter
	fallback   hub.Limiter
	failClosed bool
	retry      time.Duration
	warnEvery  time.Duration
	now        func() time.Time
	log        *zap.Logger
	metrics    *limiterMetrics

	downUntil atomic.Int64 // Unix nanoseconds; 0 when the store is healthy
	lastWarn  atomic.Int64 // Unix nanoseconds of the last warning
}

// allow decides ws. fellBack reports that the local limiter decided.
func (g *guard) allow(ctx context.Context, ws []hub.Window) (d hub.Decision, fellBack bool, err error) {
	now := g.now()
	if until := g.downUntil.Load(); until == 0 || now.UnixNano() >= until {
		d, err = g.primary.Allow(ctx, ws)
		if err == nil {
			if until != 0 && g.downUntil.CompareAndSwap(until, 0) {
				g.log.Info("rate limit store reachable again")
			}
			return d, false, nil
		}
		if errors.Is(err, hub.ErrBadWindow) || ctx.Err() != nil {
			// Not the store's fault: a bug, or the client went away.
			return hub.Decision{}, false, err
		}
		g.metrics.storeErrors.Inc()
		g.downUntil.Store(now.Add(g.retry).UnixNano())
		g.warn(now, err)
	}
	if g.failClosed {
		return hub.Decision{}, false, errUnavailable
	}
	g.metrics.fallback.Inc()
	d, err = g.fallback.Allow(ctx, ws)
	return d, true, err
}

// warn logs a store failure at most once per warnEvery.
func (g *guard) warn(now time.Time, err error) {
	last := g.lastWarn.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < g.warnEvery {
		return
	}
	if !g.lastWarn.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	mode := "fail_open: a local in-memory limiter decides (limits are per instance meanwhile)"
	if g.failClosed {
		mode = "fail_closed: requests are refused with 503"
	}
	g.log.Warn("rate limit store unreachable",
		zap.String("mode", mode),
		zap.Duration("retry", g.retry),
		zap.Duration("next_warning_after", g.warnEvery),
		zap.Error(err))
}
