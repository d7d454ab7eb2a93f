package connectors

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// lane isolates one connector: its own breaker, rate limiter and a single
// slot for event deliveries, so that a connector that hangs holds at most
// one of the dispatcher's workers (for at most Timeout) and a connector
// that fails trips only its own breaker.
type lane struct {
	cb   *gobreaker.CircuitBreaker[struct{}]
	lim  *rate.Limiter
	slot chan struct{}
}

func (s *Service) lane(id string, t Type) *lane {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lanes[id]
	if !ok {
		limit := uint32(s.opt.BreakerFailures)
		r, b := t.Rate, t.Burst
		if r == 0 {
			r = rate.Inf
		}
		if b < 1 {
			b = 1
		}
		l = &lane{
			cb: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
				Name:        "connector " + id,
				MaxRequests: 1,
				Timeout:     s.opt.BreakerOpen,
				ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= limit },
				// A refusal retrying cannot fix, or the vendor's 429,
				// says nothing about the vendor's health.
				IsSuccessful: func(err error) bool {
					_, throttled := retryAfter(err)
					return err == nil || isPermanent(err) || throttled
				},
			}),
			lim:  rate.NewLimiter(r, b),
			slot: make(chan struct{}, 1),
		}
		s.lanes[id] = l
	}
	return l
}

func (s *Service) dropLane(id string) {
	s.mu.Lock()
	delete(s.lanes, id)
	s.mu.Unlock()
}

// errBreakerOpen is a call refused by an open breaker.
var errBreakerOpen = errors.New("circuit breaker open: the connector keeps failing")

// call runs fn once under the lane's breaker, rate limit and Timeout.
// wait says whether to wait for the rate limiter (syncs) or to give up
// with the delay (event deliveries, which the dispatcher defers instead).
func (s *Service) call(ctx context.Context, l *lane, wait bool, fn func(context.Context) error) (time.Duration, error) {
	if wait {
		if err := l.lim.Wait(ctx); err != nil {
			return 0, err
		}
	} else {
		r := l.lim.Reserve()
		if d := r.Delay(); d > 0 {
			r.Cancel()
			return d, errRateLimited
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	_, err := l.cb.Execute(func() (struct{}, error) {
		err := fn(cctx)
		if err != nil && cctx.Err() != nil && ctx.Err() == nil {
			err = errors.New("timed out after " + s.opt.Timeout.String())
		}
		return struct{}{}, err
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return s.opt.BreakerOpen, errBreakerOpen
	}
	return 0, err
}

var errRateLimited = errors.New("rate limited (the vendor's published limit)")

// withRetries runs fn up to SyncAttempts times, with exponential backoff
// and jitter between attempts, or the vendor's Retry-After when it says
// more; a permanent error or an open breaker stops at once.
func (s *Service) withRetries(ctx context.Context, l *lane, fn func(context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		_, err = s.call(ctx, l, true, fn)
		if err == nil || isPermanent(err) || errors.Is(err, errBreakerOpen) || attempt >= s.opt.SyncAttempts || ctx.Err() != nil {
			return err
		}
		d := s.opt.RetryBase << (attempt - 1)
		d = d/2 + rand.N(d/2+1)
		if ra, ok := retryAfter(err); ok && ra > d {
			d = ra
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
