package hubbreaker

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// settings are the resolved (defaulted, validated) breaker parameters.
type settings struct {
	name                string
	consecutiveFailures uint32
	failureRatio        float64
	minRequests         uint32
	window              time.Duration
	openTimeout         time.Duration
	halfOpenRequests    uint32
	probeTimeout        time.Duration
	failureLatency      time.Duration
}

// windowBuckets is how many buckets the rolling window is cut into: the
// window slides by a tenth of its length, so old failures fade gradually
// instead of all at once as with a fixed window.
const windowBuckets = 10

// errFailed is what a failed upstream response is reported to gobreaker as.
var errFailed = errors.New("upstream response counted as a failure")

// core is one breaker's state. It is pooled by name and settings, so a
// config reload keeps an open breaker open.
//
// gobreaker is used in its two-step form, but both steps happen in
// RecordMetric: Caddy calls OK() during upstream selection (possibly several
// times per request, once per upstream, and from its metrics updater) and
// RecordMetric only after a response, so OK() cannot hold a gobreaker
// ticket. OK() instead hands out at most halfOpenRequests probe leases per
// half-open period; a lease whose request never reports (a dial error, a
// transport timeout, a canceled client) lapses after probeTimeout and lets
// another probe through.
type core struct {
	s     settings
	cb    *gobreaker.TwoStepCircuitBreaker[struct{}]
	gauge prometheus.Gauge
	log   atomic.Pointer[zap.Logger]
	now   func() time.Time

	tripCounts gobreaker.Counts // guarded by gobreaker's lock (see readyToTrip)

	mu       sync.Mutex
	openedAt time.Time   // when the breaker last opened
	leases   []time.Time // expiry of the probes admitted in this half-open period
	timer    *time.Timer // makes open → half-open visible without traffic
	closed   bool        // destructed
}

func newCore(s settings, gauge prometheus.Gauge, log *zap.Logger) *core {
	c := &core{s: s, gauge: gauge, now: time.Now}
	if log == nil {
		log = zap.NewNop()
	}
	c.log.Store(log)
	c.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:          s.name,
		MaxRequests:   s.halfOpenRequests,
		Interval:      s.window,
		BucketPeriod:  s.window / windowBuckets,
		Timeout:       s.openTimeout,
		ReadyToTrip:   c.readyToTrip,
		OnStateChange: c.onStateChange,
	})
	gauge.Set(float64(gobreaker.StateClosed))
	return c
}

// readyToTrip opens the breaker on consecutive failures, or on a failure
// ratio once the rolling window holds enough requests to judge.
// It runs under gobreaker's lock, as onStateChange does, which makes
// tripCounts safe to share between them.
func (c *core) readyToTrip(n gobreaker.Counts) bool {
	trip := n.ConsecutiveFailures >= c.s.consecutiveFailures ||
		(n.Requests >= c.s.minRequests && float64(n.TotalFailures) >= c.s.failureRatio*float64(n.Requests))
	if trip {
		c.tripCounts = n
	}
	return trip
}

// onStateChange runs under gobreaker's lock: it must not call back into cb.
func (c *core) onStateChange(name string, from, to gobreaker.State) {
	c.gauge.Set(float64(to)) // gobreaker's numbering is the metric's: 0 closed, 1 half-open, 2 open
	c.mu.Lock()
	c.leases = c.leases[:0]
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if to == gobreaker.StateOpen {
		c.openedAt = c.now()
		if !c.closed {
			// gobreaker moves to half-open lazily, when asked; asking
			// right after the timeout keeps the gauge and the logs true
			// even when no request comes.
			c.timer = time.AfterFunc(c.s.openTimeout+time.Millisecond, func() { c.cb.State() })
		}
	}
	c.mu.Unlock()
	log := c.log.Load()
	fields := []zap.Field{zap.String("upstream", name), zap.String("from", from.String()), zap.String("to", to.String())}
	if to == gobreaker.StateOpen {
		n := c.tripCounts
		log.Warn("circuit breaker opened: upstream requests refused", append(fields,
			zap.Uint32("requests", n.Requests), zap.Uint32("failures", n.TotalFailures),
			zap.Uint32("consecutive_failures", n.ConsecutiveFailures),
			zap.Duration("open_timeout", c.s.openTimeout))...)
		return
	}
	log.Info("circuit breaker state changed", fields...)
}

// OK reports whether a request may go to the upstream now. In half-open
// state it admits at most halfOpenRequests probes per probe period.
func (c *core) OK() bool {
	switch c.cb.State() {
	case gobreaker.StateClosed:
		return true
	case gobreaker.StateOpen:
		return false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.leases[:0]
	for _, exp := range c.leases {
		if now.Before(exp) {
			live = append(live, exp)
		}
	}
	c.leases = live
	if uint32(len(c.leases)) >= c.s.halfOpenRequests {
		return false
	}
	c.leases = append(c.leases, now.Add(c.s.probeTimeout))
	return true
}

// RecordMetric feeds one upstream response to the breaker: a 5xx, or a
// response slower than failureLatency when set, is a failure.
func (c *core) RecordMetric(status int, latency time.Duration) {
	done, err := c.cb.Allow()
	if err != nil {
		// Open, or half-open with its probes already counted: a late
		// answer from a request admitted earlier changes nothing.
		return
	}
	if status >= 500 || (c.s.failureLatency > 0 && latency >= c.s.failureLatency) {
		done(errFailed)
		return
	}
	done(nil)
}

// State returns the current state.
func (c *core) State() gobreaker.State { return c.cb.State() }

// RetryAfter is how long a refused client should wait: the time left until
// the half-open probe when open, one second while a probe is in flight,
// zero when closed. It is rounded up to whole seconds (RFC 9110 §10.2.3).
func (c *core) RetryAfter() int {
	switch c.cb.State() {
	case gobreaker.StateClosed:
		return 0
	case gobreaker.StateHalfOpen:
		return 1
	}
	c.mu.Lock()
	left := c.openedAt.Add(c.s.openTimeout).Sub(c.now())
	c.mu.Unlock()
	secs := int(math.Ceil(left.Seconds()))
	return max(secs, 1)
}

// Destruct stops the half-open timer when the last config lets go.
func (c *core) Destruct() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	return nil
}
