package hubbreaker

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// testSettings trips on 3 consecutive failures or on half of at least 10
// responses, and stays open for an hour unless a test says otherwise.
func testSettings() settings {
	return settings{
		name: "test", consecutiveFailures: 3, failureRatio: 0.5, minRequests: 10,
		window: time.Minute, openTimeout: time.Hour, halfOpenRequests: 1, probeTimeout: time.Hour,
	}
}

// fakeClock is the injected clock of a core (leases, Retry-After).
type fakeClock = testutil.Clock

func newTestCore(t *testing.T, s settings) (*core, prometheus.Gauge, *observer.ObservedLogs, *fakeClock) {
	t.Helper()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_state"})
	obs, logs := observer.New(zap.InfoLevel)
	c := newCore(s, g, zap.New(obs))
	clk := testutil.NewClock(time.Now())
	c.now = clk.Now
	t.Cleanup(func() { _ = c.Destruct() })
	return c, g, logs, clk
}

// eventually polls f (gobreaker reads the real clock for open → half-open).
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTrip(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // responses fed in order
		latency  time.Duration
		slow     time.Duration // failureLatency
		tripAt   int           // index of the response that opens it; -1 never
	}{
		{"consecutive 5xx", []int{500, 502, 503}, 0, 0, 2},
		{"success resets the streak", []int{500, 500, 200, 500, 500, 200}, 0, 0, -1},
		{"4xx are not failures", []int{404, 429, 400, 401, 404, 404}, 0, 0, -1},
		{"ratio once min_requests is reached",
			[]int{200, 500, 200, 500, 200, 500, 200, 500, 200, 500}, 0, 0, 9},
		{"ratio below threshold", []int{200, 200, 500, 200, 200, 500, 200, 200, 500, 200, 200, 500}, 0, 0, -1},
		{"slow answers count when failure_latency is set", []int{200, 200, 200}, 2 * time.Second, time.Second, 2},
		{"slow answers are fine by default", []int{200, 200, 200}, 2 * time.Second, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			s.failureLatency = tt.slow
			c, g, _, _ := newTestCore(t, s)
			for i, st := range tt.statuses {
				if !c.OK() {
					t.Fatalf("response %d: breaker refused before it should trip", i)
				}
				c.RecordMetric(st, tt.latency)
				wantOpen := tt.tripAt >= 0 && i >= tt.tripAt
				if got := c.State() == gobreaker.StateOpen; got != wantOpen {
					t.Fatalf("after response %d (%d): open=%v, want %v", i, st, got, wantOpen)
				}
			}
			want := 0.0
			if tt.tripAt >= 0 {
				want = 2
				if c.OK() {
					t.Fatal("open breaker said OK")
				}
			}
			if v := gaugeValue(t, g); v != want {
				t.Fatalf("gauge %v, want %v", v, want)
			}
		})
	}
}

func TestRollingWindowForgets(t *testing.T) {
	s := testSettings()
	s.window = 100 * time.Millisecond
	s.consecutiveFailures = 1000
	c, _, _, _ := newTestCore(t, s)
	for range 9 {
		c.RecordMetric(500, 0)
	}
	// The 9 failures slide out of the window; then 1 more failure among
	// 10 fresh responses is under the ratio.
	eventually(t, "window slid", func() bool { c.State(); return c.cb.Counts().Requests == 0 })
	for range 9 {
		c.RecordMetric(200, 0)
	}
	c.RecordMetric(500, 0)
	if c.State() != gobreaker.StateClosed {
		t.Fatalf("state %s, want closed: old failures must leave the window", c.State())
	}
}

func TestHalfOpen(t *testing.T) {
	tests := []struct {
		name      string
		probe     int
		wantState gobreaker.State
		wantGauge float64
	}{
		{"a successful probe closes", 200, gobreaker.StateClosed, 0},
		{"a failed probe re-opens", 500, gobreaker.StateOpen, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			s.openTimeout = 20 * time.Millisecond
			c, g, logs, _ := newTestCore(t, s)
			for range 3 {
				c.RecordMetric(500, 0)
			}
			// The timer makes the half-open state visible without traffic.
			eventually(t, "gauge half-open", func() bool { return gaugeValue(t, g) == 1 })
			if !c.OK() {
				t.Fatal("half-open breaker refused the probe")
			}
			if c.OK() {
				t.Fatal("half-open breaker admitted a second probe (half_open_requests 1)")
			}
			c.RecordMetric(tt.probe, time.Millisecond)
			if tt.wantState == gobreaker.StateOpen {
				// open_timeout is short: it may already be half-open again.
				if st := c.State(); st == gobreaker.StateClosed {
					t.Fatalf("state %s after a failed probe", st)
				}
			} else if st := c.State(); st != tt.wantState {
				t.Fatalf("state %s, want %s", st, tt.wantState)
			}
			var transitions []string
			for _, e := range logs.All() {
				transitions = append(transitions, e.ContextMap()["from"].(string)+"→"+e.ContextMap()["to"].(string))
			}
			want := []string{"closed→open", "open→half-open", "half-open→" + tt.wantState.String()}
			if len(transitions) < 3 || transitions[0] != want[0] || transitions[1] != want[1] || transitions[2] != want[2] {
				t.Fatalf("transitions logged %v, want %v first", transitions, want)
			}
			if tt.wantState == gobreaker.StateClosed {
				if v := gaugeValue(t, g); v != tt.wantGauge {
					t.Fatalf("gauge %v, want %v", v, tt.wantGauge)
				}
			}
		})
	}
}

func TestOpenLogIsAWarningWithCounts(t *testing.T) {
	c, _, logs, _ := newTestCore(t, testSettings())
	for range 3 {
		c.RecordMetric(503, 0)
	}
	entries := logs.FilterMessage("circuit breaker opened: upstream requests refused").All()
	if len(entries) != 1 {
		t.Fatalf("%d open logs, want 1: %v", len(entries), logs.All())
	}
	m := entries[0].ContextMap()
	if entries[0].Level != zap.WarnLevel || m["upstream"] != "test" || m["consecutive_failures"] != uint32(3) {
		t.Fatalf("open log %v %v", entries[0].Level, m)
	}
}

func TestProbeLeaseLapses(t *testing.T) {
	s := testSettings()
	s.openTimeout = 10 * time.Millisecond
	s.probeTimeout = 30 * time.Second
	s.halfOpenRequests = 2
	c, _, _, clk := newTestCore(t, s)
	for range 3 {
		c.RecordMetric(500, 0)
	}
	eventually(t, "half-open", func() bool { return c.State() == gobreaker.StateHalfOpen })
	if !c.OK() || !c.OK() {
		t.Fatal("half_open_requests 2 must admit two probes")
	}
	if c.OK() {
		t.Fatal("a third probe was admitted")
	}
	// The probes never report (dial errors): their leases lapse.
	clk.Add(29 * time.Second)
	if c.OK() {
		t.Fatal("lease lapsed early")
	}
	clk.Add(2 * time.Second)
	if !c.OK() {
		t.Fatal("lapsed leases must let a new probe through")
	}
	if c.State() != gobreaker.StateHalfOpen {
		t.Fatalf("state %s: an unanswered probe is not a verdict", c.State())
	}
}

func TestRetryAfter(t *testing.T) {
	c, _, _, clk := newTestCore(t, testSettings()) // open_timeout 1h
	if got := c.RetryAfter(); got != 0 {
		t.Fatalf("closed: Retry-After %d", got)
	}
	for range 3 {
		c.RecordMetric(500, 0)
	}
	tests := []struct {
		elapsed time.Duration
		want    int
	}{
		{0, 3600},
		{1500 * time.Millisecond, 3599}, // 3598.5 s left: rounded up
		{time.Hour - 100*time.Millisecond, 1},
		{time.Hour + time.Second, 1}, // probe due: never 0
	}
	opened := clk.Now()
	for _, tt := range tests {
		clk.Set(opened.Add(tt.elapsed))
		if got := c.RetryAfter(); got != tt.want {
			t.Errorf("after %s: Retry-After %d, want %d", tt.elapsed, got, tt.want)
		}
	}
}

func TestLateAnswersWhileOpenChangeNothing(t *testing.T) {
	c, _, _, _ := newTestCore(t, testSettings())
	for range 3 {
		c.RecordMetric(500, 0)
	}
	for range 20 {
		c.RecordMetric(200, 0) // requests admitted before the trip
	}
	if c.State() != gobreaker.StateOpen {
		t.Fatalf("state %s, want open", c.State())
	}
}

// TestConcurrentUse hammers one breaker from 8 goroutines (under -race)
// and checks the counts and state it ends in: every success is counted
// exactly once while closed, concurrent failures open it exactly once,
// and once open it refuses everything and counts nothing more.
func TestConcurrentUse(t *testing.T) {
	s := testSettings()
	s.window = time.Hour // no bucket slides during the test
	c, g, logs, _ := newTestCore(t, s)
	const workers, each = 8, 500
	run := func(status int) (admitted int64) {
		var wg sync.WaitGroup
		var n atomic.Int64
		for range workers {
			wg.Go(func() {
				for range each {
					if c.OK() {
						n.Add(1)
						c.RecordMetric(status, 0)
					}
					_ = c.RetryAfter()
				}
			})
		}
		wg.Wait()
		return n.Load()
	}

	// Phase 1: successes only. Closed all along, each one counted once.
	if got := run(200); got != workers*each {
		t.Fatalf("closed breaker admitted %d of %d requests", got, workers*each)
	}
	n := c.cb.Counts()
	if c.State() != gobreaker.StateClosed || n.Requests != workers*each || n.TotalSuccesses != workers*each ||
		n.TotalFailures != 0 || n.ConsecutiveSuccesses != workers*each {
		t.Fatalf("after %d concurrent successes: state %v, counts %+v", workers*each, c.State(), n)
	}
	if v := gaugeValue(t, g); v != float64(gobreaker.StateClosed) {
		t.Fatalf("gauge %v, want closed", v)
	}

	// Phase 2: failures only. The third consecutive one opens it; the
	// breaker opens once, whatever the interleaving, and then admits
	// nobody (half-open is an hour away).
	admitted := run(500)
	if c.State() != gobreaker.StateOpen {
		t.Fatalf("state %v after %d concurrent failures, want open", c.State(), workers*each)
	}
	if admitted < int64(s.consecutiveFailures) || admitted >= workers*each {
		t.Fatalf("%d failures admitted: want at least %d and far fewer than %d", admitted, s.consecutiveFailures, workers*each)
	}
	if v := gaugeValue(t, g); v != float64(gobreaker.StateOpen) {
		t.Fatalf("gauge %v, want open", v)
	}
	if opened := logs.FilterMessage("circuit breaker opened: upstream requests refused").Len(); opened != 1 {
		t.Fatalf("opened %d times, want once", opened)
	}
	// gobreaker starts a new generation on opening: late reports of the
	// requests admitted before are ignored, not counted.
	if n := c.cb.Counts(); n.Requests != 0 || n.TotalFailures != 0 {
		t.Fatalf("counts after opening %+v, want zero", n)
	}
	if c.OK() {
		t.Fatal("open breaker admitted a request")
	}
	if ra := c.RetryAfter(); ra < 3590 || ra > 3600 {
		t.Fatalf("Retry-After %d, want about an hour", ra)
	}
}

// gaugeValue reads a gauge (prometheus/testutil pulls modules this build
// does not carry).
func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
