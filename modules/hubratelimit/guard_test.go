package hubratelimit

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hubchantier/hubgate/modules/hub"
)

// closedPortRedis returns a Redis store whose URL points at a port nothing
// listens on.
func closedPortRedis(t *testing.T) hub.Limiter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := &hub.RedisStore{URL: "redis://" + addr + "/0", Prefix: "rltest:"}
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Cleanup() })
	return m.Store().(hub.Limiter)
}

func TestRedisDownFailOpen(t *testing.T) {
	c := newClock()
	core, logs := observer.New(zapcore.WarnLevel)
	h := &Handler{Default: []string{"2/hour"}}
	h.now, h.log = c.Now, zap.New(core)
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	h.metrics = hub.GetMetrics()
	h.setLimiter(closedPortRedis(t))
	m := getMetrics()
	errs0, fb0 := counterValue(t, m.storeErrors), counterValue(t, m.fallback)

	id := keyID("failopen-" + time.Now().Format("150405.000000000"))
	for i, want := range []int{200, 200, 429, 429} {
		r := serve(t, h, "GET", "/x", id, "10.0.0.1")
		if r.status != want {
			t.Fatalf("request %d: %d, want %d (the local limiter keeps the limits)", i+1, r.status, want)
		}
		c.Add(100 * time.Millisecond)
	}
	// 400 ms passed: the store was tried once, then left alone for 1 s.
	if got := counterValue(t, m.storeErrors) - errs0; got != 1 {
		t.Fatalf("store errors +%v, want +1", got)
	}
	if got := counterValue(t, m.fallback) - fb0; got != 4 {
		t.Fatalf("fallback decisions +%v, want +4", got)
	}
	c.Add(time.Second) // retry: the store is tried again and fails again
	serve(t, h, "GET", "/x", id, "10.0.0.1")
	if got := counterValue(t, m.storeErrors) - errs0; got != 2 {
		t.Fatalf("store errors after retry +%v, want +2", got)
	}
	if n := logs.FilterMessage("rate limit store unreachable").Len(); n != 1 {
		t.Fatalf("%d warnings within warn_interval, want 1", n)
	}
	c.Add(time.Minute)
	serve(t, h, "GET", "/x", id, "10.0.0.1")
	if n := logs.FilterMessage("rate limit store unreachable").Len(); n != 2 {
		t.Fatalf("%d warnings after warn_interval, want 2", n)
	}
}

func TestRedisDownFailClosed(t *testing.T) {
	c := newClock()
	h := &Handler{Default: []string{"2/hour"}, FailClosed: true, RetryInterval: caddy.Duration(1500 * time.Millisecond)}
	h.now, h.log = c.Now, zap.NewNop()
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	h.metrics = hub.GetMetrics()
	h.setLimiter(closedPortRedis(t))
	for i := 0; i < 3; i++ {
		r := serve(t, h, "GET", "/x", keyID("failclosed"), "10.0.0.1")
		if r.status != 503 || r.next {
			t.Fatalf("request %d: %d next=%v, want 503", i+1, r.status, r.next)
		}
		checkHeader(t, r, "Retry-After", "2")
		if p := r.problem(t); p["type"] != "urn:hubchantier:problem:rate-limit-unavailable" {
			t.Fatalf("problem %v", p)
		}
	}
}

// flakyLimiter fails while down is set and counts its calls.
type flakyLimiter struct {
	down  atomic.Bool
	calls atomic.Int64
	inner hub.Limiter
}

func (f *flakyLimiter) Allow(ctx context.Context, ws []hub.Window) (hub.Decision, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return hub.Decision{}, errors.New("connection refused")
	}
	return f.inner.Allow(ctx, ws)
}

func TestStoreRecovers(t *testing.T) {
	c := newClock()
	core, logs := observer.New(zapcore.InfoLevel)
	h := &Handler{Default: []string{"100/hour"}}
	h.now, h.log = c.Now, zap.New(core)
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	h.metrics = hub.GetMetrics()
	f := &flakyLimiter{inner: hub.NewLocalLimiter(c.Now)}
	h.setLimiter(f)
	id := keyID("recover")

	f.down.Store(true)
	for i := 0; i < 5; i++ {
		if r := serve(t, h, "GET", "/x", id, "10.0.0.1"); r.status != 200 {
			t.Fatalf("fail open: %d", r.status)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("store called %d times within retry_interval, want 1", n)
	}
	f.down.Store(false)
	c.Add(time.Second)
	r := serve(t, h, "GET", "/x", id, "10.0.0.1")
	if r.status != 200 || f.calls.Load() != 2 {
		t.Fatalf("after recovery: %d, %d calls", r.status, f.calls.Load())
	}
	// The shared store decides again (its own count: first request).
	checkHeader(t, r, fieldRemaining, "99")
	if logs.FilterMessage("rate limit store reachable again").Len() != 1 {
		t.Fatal("recovery not logged")
	}
	serve(t, h, "GET", "/x", id, "10.0.0.1")
	if f.calls.Load() != 3 {
		t.Fatalf("store not used after recovery: %d calls", f.calls.Load())
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
