package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limiter decides rate limits atomically. The memory and Redis stores both
// implement it with the same algorithm (GCRA, see docs/ratelimit.md) and pass
// the same conformance suite (limiter_test.go); policies find it with a type
// assertion on App.Store().
type Limiter interface {
	// Allow decides one request against every window at once: the request
	// is admitted only if each window admits it, and then it consumes one
	// unit of each; a refused request consumes nothing. The returned
	// states are in the order of windows.
	Allow(ctx context.Context, windows []Window) (Decision, error)
}

// Window is one quota: at most Limit requests per Period for Key.
//
// GCRA (the generic cell rate algorithm) keeps one number per window, the
// theoretical arrival time (TAT): each admitted request pushes it forward by
// the emission interval I = ⌈Period/Limit⌉, and a request is admitted while
// TAT+I−now stays within the capacity Limit×I. So a full quota admits
// exactly Limit requests at once, and units come back one every I.
type Window struct {
	// Key names the window's state in the store (the store adds its
	// prefix). On Redis Cluster every key of one Allow call should share
	// one hash tag, e.g. "rl:{k:abc}:per-key:3600".
	Key string
	// Limit is the number of requests per Period, at least 1.
	Limit int64
	// Period is the window length; Limit may not exceed Period in
	// microseconds (the resolution of the algorithm).
	Period time.Duration
	// Cost is how many units the request consumes (hub.CostOf: a GraphQL
	// operation's cost); 0 means 1. A request whose cost exceeds Limit is
	// never admitted.
	Cost int64
}

// WindowState is a window after a decision.
type WindowState struct {
	// Remaining is how many more requests the window would admit now.
	Remaining int64
	// Reset is how long until the whole quota is back.
	Reset time.Duration
	// RetryAfter is how long until the window admits one more request
	// (0 when it would now).
	RetryAfter time.Duration
}

// Decision is the answer of Limiter.Allow.
type Decision struct {
	// Allowed reports whether the request was admitted (and counted).
	Allowed bool
	// Windows holds the state of each window, in the order given.
	Windows []WindowState
}

// RetryAfter is how long until every window would admit a request: the
// longest wait of any window.
func (d Decision) RetryAfter() time.Duration {
	var m time.Duration
	for _, w := range d.Windows {
		m = max(m, w.RetryAfter)
	}
	return m
}

// ErrBadWindow reports a window the algorithm cannot represent.
var ErrBadWindow = errors.New("hub limiter: bad window")

// gcra holds a window's constants in microseconds.
type gcra struct {
	interval int64 // emission interval I = ⌈period/limit⌉
	step     int64 // what one request adds to the TAT: Cost × I
	capacity int64 // limit × I: how far TAT may run ahead of now
}

func newGCRA(w Window) (gcra, error) {
	period := w.Period.Microseconds()
	if w.Limit < 1 || period < 1 || w.Limit > period || w.Key == "" {
		return gcra{}, fmt.Errorf("%w: %q %d per %s", ErrBadWindow, w.Key, w.Limit, w.Period)
	}
	// Rounding I up (not down) keeps the count exact: Limit×I ≥ Period, so
	// capacity/I is exactly Limit, and the sustained rate never exceeds
	// Limit per Period.
	i := (period + w.Limit - 1) / w.Limit
	return gcra{interval: i, step: i * max(w.Cost, 1), capacity: i * w.Limit}, nil
}

// state turns used = TAT−now (µs, after the decision) into what clients see.
func (g gcra) state(used int64) WindowState {
	if used < 0 {
		used = 0
	}
	s := WindowState{Reset: time.Duration(used) * time.Microsecond}
	if free := g.capacity - used; free > 0 {
		s.Remaining = free / g.interval
	}
	if wait := used + g.step - g.capacity; wait > 0 {
		s.RetryAfter = time.Duration(wait) * time.Microsecond
	}
	return s
}

// compile checks windows and returns their constants.
func compileWindows(ws []Window) ([]gcra, error) {
	gs := make([]gcra, len(ws))
	for i, w := range ws {
		g, err := newGCRA(w)
		if err != nil {
			return nil, err
		}
		gs[i] = g
	}
	return gs, nil
}

// NewLocalLimiter returns a limiter private to this process, with the same
// answers as the shared memory store; now is its clock (time.Now in
// production). hub_rate_limit falls back to one while Redis is unreachable.
func NewLocalLimiter(now func() time.Time) Limiter {
	return newMemStore(now)
}

var (
	fallbackOnce sync.Once
	fallbackLim  Limiter
)

// FallbackLimiter is the process-wide local limiter that policies fall back
// to while the shared store is unreachable (hub_rate_limit's fail_open,
// hub_auth's failed_auth). Being process-wide, its counters survive config
// reloads; the policies' window keys never collide (each has its prefix).
func FallbackLimiter() Limiter {
	fallbackOnce.Do(func() { fallbackLim = NewLocalLimiter(time.Now) })
	return fallbackLim
}
