package hub

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limiterEnv is one backend under the limiter conformance suite.
type limiterEnv struct {
	store interface {
		Store
		Limiter
	}
	// advance lets d pass: the fake clock on memory, a sleep on Redis.
	advance func(d time.Duration)
	// slack is how far a duration seen by the test may lag the exact one
	// (Redis runs on its own clock while the test runs on).
	slack time.Duration
}

func limiterBackends() map[string]func(t *testing.T) *limiterEnv {
	return map[string]func(t *testing.T) *limiterEnv{
		"memory": func(t *testing.T) *limiterEnv {
			clock := newFakeClock()
			return &limiterEnv{store: newMemStore(clock.Now), advance: clock.Add}
		},
		"redis": func(t *testing.T) *limiterEnv {
			env := newRedisEnv(t)
			return &limiterEnv{store: env.store.(*redisStore), advance: time.Sleep, slack: 5 * time.Second}
		},
	}
}

// TestLimiterConformance runs the same GCRA suite on every backend, so a
// limit gives the same answers on one node or many.
func TestLimiterConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, env *limiterEnv)
	}{
		{"BurstAdmitsExactlyLimit", testBurstExact},
		{"RefusalConsumesNothing", testRefusalConsumesNothing},
		{"UnitsReturn", testUnitsReturn},
		{"StrictestWindowDecides", testStrictestWindow},
		{"StateValues", testStateValues},
		{"IndependentKeys", testIndependentKeys},
		{"NonNumericStateIsFull", testNonNumericState},
		{"BadWindows", testBadWindows},
		{"ConcurrentExact", testConcurrentExact},
	}
	for backend, newEnv := range limiterBackends() {
		t.Run(backend, func(t *testing.T) {
			if backend == "redis" {
				redisURL(t)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, newEnv(t)) })
			}
		})
	}
}

func mustAllow(t *testing.T, l Limiter, ws ...Window) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), ws)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if len(d.Windows) != len(ws) {
		t.Fatalf("Allow returned %d states for %d windows", len(d.Windows), len(ws))
	}
	return d
}

func within(got, want, slack time.Duration) bool {
	return got <= want && got >= want-slack
}

func testBurstExact(t *testing.T, env *limiterEnv) {
	tests := []struct {
		limit  int64
		period time.Duration
	}{
		{1, time.Hour}, {5, time.Hour}, {7, 24 * time.Hour}, {1000, time.Hour}, {3000, 24 * time.Hour},
	}
	for _, tt := range tests {
		w := Window{Key: "burst:" + tt.period.String() + ":" + strconv.FormatInt(tt.limit, 10), Limit: tt.limit, Period: tt.period}
		for i := int64(1); i <= tt.limit; i++ {
			d := mustAllow(t, env.store, w)
			if !d.Allowed || d.Windows[0].Remaining != tt.limit-i {
				t.Fatalf("%d/%s: request %d: allowed=%v remaining=%d, want true %d", tt.limit, tt.period, i, d.Allowed, d.Windows[0].Remaining, tt.limit-i)
			}
		}
		d := mustAllow(t, env.store, w)
		us := tt.period.Microseconds()
		interval := time.Duration((us+tt.limit-1)/tt.limit) * time.Microsecond
		if d.Allowed || d.Windows[0].Remaining != 0 || !within(d.RetryAfter(), interval, env.slack) {
			t.Fatalf("%d/%s: request over the limit: allowed=%v remaining=%d retry=%s (want refused, 0, ≈%s)",
				tt.limit, tt.period, d.Allowed, d.Windows[0].Remaining, d.RetryAfter(), interval)
		}
	}
}

func testRefusalConsumesNothing(t *testing.T, env *limiterEnv) {
	w := Window{Key: "refuse", Limit: 2, Period: time.Hour}
	mustAllow(t, env.store, w)
	mustAllow(t, env.store, w)
	first := mustAllow(t, env.store, w)
	for i := 0; i < 20; i++ {
		d := mustAllow(t, env.store, w)
		if d.Allowed {
			t.Fatal("admitted over the limit")
		}
		// Refusals do not push the return of quota further out.
		if d.RetryAfter() > first.RetryAfter() {
			t.Fatalf("refusal %d moved Retry-After from %s to %s", i, first.RetryAfter(), d.RetryAfter())
		}
	}
}

func testUnitsReturn(t *testing.T, env *limiterEnv) {
	w := Window{Key: "return", Limit: 2, Period: 4 * time.Second} // one unit back every 2 s
	mustAllow(t, env.store, w)
	mustAllow(t, env.store, w)
	d := mustAllow(t, env.store, w)
	if d.Allowed {
		t.Fatal("third request admitted")
	}
	retry := d.RetryAfter()
	if retry <= 0 || retry > 2*time.Second {
		t.Fatalf("RetryAfter = %s, want in (0, 2s]", retry)
	}
	env.advance(retry)
	if d := mustAllow(t, env.store, w); !d.Allowed {
		t.Fatalf("refused after waiting RetryAfter (%s): retry now %s", retry, d.RetryAfter())
	}
}

func testStrictestWindow(t *testing.T, env *limiterEnv) {
	burst := Window{Key: "s:{p}:burst", Limit: 3, Period: time.Hour}
	daily := Window{Key: "s:{p}:daily", Limit: 10, Period: 24 * time.Hour}
	for i := 0; i < 3; i++ {
		if d := mustAllow(t, env.store, burst, daily); !d.Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	d := mustAllow(t, env.store, burst, daily)
	if d.Allowed {
		t.Fatal("burst window did not refuse")
	}
	if d.Windows[0].RetryAfter == 0 || d.Windows[1].RetryAfter != 0 {
		t.Fatalf("retry per window = %s, %s; want the burst window only", d.Windows[0].RetryAfter, d.Windows[1].RetryAfter)
	}
	// The refused request took nothing from the daily window.
	if got := d.Windows[1].Remaining; got != 7 {
		t.Fatalf("daily remaining after a refusal = %d, want 7", got)
	}
	// The daily window alone still has 7.
	if d := mustAllow(t, env.store, daily); !d.Allowed || d.Windows[0].Remaining != 6 {
		t.Fatalf("daily alone: allowed=%v remaining=%d, want true 6", d.Allowed, d.Windows[0].Remaining)
	}
}

func testStateValues(t *testing.T, env *limiterEnv) {
	w := Window{Key: "values", Limit: 4, Period: time.Hour}
	d := mustAllow(t, env.store, w)
	s := d.Windows[0]
	if s.Remaining != 3 || !within(s.Reset, 15*time.Minute, env.slack) || s.RetryAfter != 0 {
		t.Fatalf("after 1 of 4/hour: %+v; want remaining 3, reset 15m, no retry", s)
	}
	mustAllow(t, env.store, w)
	mustAllow(t, env.store, w)
	d = mustAllow(t, env.store, w)
	s = d.Windows[0]
	if s.Remaining != 0 || !within(s.Reset, time.Hour, env.slack) || !within(s.RetryAfter, 15*time.Minute, env.slack) {
		t.Fatalf("after 4 of 4/hour: %+v; want remaining 0, reset 1h, retry 15m", s)
	}
}

func testIndependentKeys(t *testing.T, env *limiterEnv) {
	a := Window{Key: "ind:a", Limit: 1, Period: time.Hour}
	b := Window{Key: "ind:b", Limit: 1, Period: time.Hour}
	if !mustAllow(t, env.store, a).Allowed || !mustAllow(t, env.store, b).Allowed {
		t.Fatal("first request on a fresh key refused")
	}
	if mustAllow(t, env.store, a).Allowed || mustAllow(t, env.store, b).Allowed {
		t.Fatal("second request admitted")
	}
}

func testNonNumericState(t *testing.T, env *limiterEnv) {
	mustSet(t, env.store, "junk", "not a number", 0)
	d := mustAllow(t, env.store, Window{Key: "junk", Limit: 2, Period: time.Hour})
	if !d.Allowed || d.Windows[0].Remaining != 1 {
		t.Fatalf("over junk: %+v, want admitted with 1 left", d)
	}
}

func testBadWindows(t *testing.T, env *limiterEnv) {
	for _, w := range []Window{
		{Key: "bad", Limit: 0, Period: time.Hour},
		{Key: "bad", Limit: -1, Period: time.Hour},
		{Key: "bad", Limit: 1, Period: 0},
		{Key: "bad", Limit: 2_000_000, Period: time.Second},
		{Key: "", Limit: 1, Period: time.Hour},
	} {
		if _, err := env.store.Allow(context.Background(), []Window{w}); !errors.Is(err, ErrBadWindow) {
			t.Errorf("Allow(%+v) err = %v, want ErrBadWindow", w, err)
		}
	}
}

func testConcurrentExact(t *testing.T, env *limiterEnv) {
	const goroutines, each, limit = 40, 5, 37
	ws := []Window{
		{Key: "conc:{x}:a", Limit: limit, Period: time.Hour},
		{Key: "conc:{x}:b", Limit: 1000, Period: 24 * time.Hour},
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				d, err := env.store.Allow(context.Background(), ws)
				if err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != limit {
		t.Fatalf("%d admitted, want exactly %d", got, limit)
	}
	d := mustAllow(t, env.store, ws[1])
	if got := d.Windows[0].Remaining; got != 1000-limit-1 {
		t.Fatalf("second window remaining %d, want %d (refusals consumed it)", got, 1000-limit-1)
	}
}

// TestRedisLimiterSplitSlots checks the Redis Cluster path on one Redis:
// windows of two partitions are decided in turn and the first is refunded
// when the second refuses.
func TestRedisLimiterSplitSlots(t *testing.T) {
	s := newRedisEnv(t).store.(*redisStore)
	ctx := context.Background()
	principal := Window{Key: "rl:{k:abc}:default:3600", Limit: 5, Period: time.Hour}
	ip := Window{Key: "rl:{ip:127.0.0.1}:login:60", Limit: 1, Period: time.Minute}
	for i, want := range []bool{true, false, false} {
		d, err := s.allow(ctx, []Window{principal, ip}, true)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != want {
			t.Fatalf("request %d: allowed=%v, want %v", i+1, d.Allowed, want)
		}
	}
	// Two refusals by the IP window gave their principal units back.
	d, err := s.allow(ctx, []Window{principal}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.Windows[0].Remaining != 3 {
		t.Fatalf("principal after refunds: %+v, want admitted with 3 left", d)
	}
}

func TestHashTag(t *testing.T) {
	for key, want := range map[string]string{
		"rl:{k:abc}:x": "k:abc",
		"rl:{}:x":      "rl:{}:x",
		"plain":        "plain",
		"a{b":          "a{b",
		"{a}{b}":       "a",
	} {
		if got := hashTag(key); got != want {
			t.Errorf("hashTag(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestLocalLimiter(t *testing.T) {
	clock := newFakeClock()
	l := NewLocalLimiter(clock.Now)
	w := Window{Key: "local", Limit: 1, Period: time.Minute}
	if !mustAllow(t, l, w).Allowed || mustAllow(t, l, w).Allowed {
		t.Fatal("local limiter: want one admitted, then refused")
	}
	clock.Add(time.Minute)
	if !mustAllow(t, l, w).Allowed {
		t.Fatal("local limiter: refused after the period")
	}
}
