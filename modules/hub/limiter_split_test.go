package hub

import (
	"context"
	"testing"
	"time"
)

// TestRedisLimiterSplitRefusalStates checks that a refusal on the Redis
// Cluster path (windows in several slots) reports the same window states
// as the memory store: a window decided after the refusing one still
// counts in Retry-After and RateLimit, and a refunded window shows the
// unit it got back.
func TestRedisLimiterSplitRefusalStates(t *testing.T) {
	const slack = 5 * time.Second
	minute := func(key string, n int64) Window { return Window{Key: key, Limit: n, Period: time.Minute} }
	hour := func(key string, n int64) Window { return Window{Key: key, Limit: n, Period: time.Hour} }
	cases := []struct {
		name string
		ws   []Window
		want []WindowState // after the second, refused request
	}{
		{
			// The IP window refuses first; the principal's would refuse
			// too, for longer: Retry-After must wait for it.
			"later window also refuses",
			[]Window{minute("rl:{ip:127.0.0.1}:login:60", 1), hour("rl:{k:abc}:default:3600", 1)},
			[]WindowState{{0, time.Minute, time.Minute}, {0, time.Hour, time.Hour}},
		},
		{
			// The principal's window admitted and was refunded.
			"earlier window refunded",
			[]Window{hour("rl:{k:abc}:default:3600", 5), minute("rl:{ip:127.0.0.1}:login:60", 1)},
			[]WindowState{{4, 12 * time.Minute, 0}, {0, time.Minute, time.Minute}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			mem := newMemStore(time.Now)
			rs := newRedisEnv(t).store.(*redisStore)
			for i, want := range []bool{true, false} {
				dm, err := mem.Allow(ctx, c.ws)
				if err != nil {
					t.Fatal(err)
				}
				dr, err := rs.allow(ctx, c.ws, true)
				if err != nil {
					t.Fatal(err)
				}
				if dm.Allowed != want || dr.Allowed != want {
					t.Fatalf("request %d: memory allowed=%v, redis allowed=%v, want %v", i+1, dm.Allowed, dr.Allowed, want)
				}
				if want {
					continue
				}
				if !near(dr.RetryAfter(), dm.RetryAfter(), slack) {
					t.Fatalf("Retry-After: redis %s, memory %s", dr.RetryAfter(), dm.RetryAfter())
				}
				for k, w := range c.want {
					for name, got := range map[string]WindowState{"memory": dm.Windows[k], "redis": dr.Windows[k]} {
						if got.Remaining != w.Remaining || !near(got.Reset, w.Reset, slack) || !near(got.RetryAfter, w.RetryAfter, slack) {
							t.Fatalf("%s window %d: %+v, want %+v", name, k, got, w)
						}
					}
				}
			}
		})
	}
}

// near reports whether a and b differ by at most slack (the test, the
// memory store and Redis each read their own clock).
func near(a, b, slack time.Duration) bool { return (a - b).Abs() <= slack }
