package hubauth

import (
	"strconv"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// clock is the shared injectable clock: tests move time instead of sleeping.
type clock = testutil.Clock

// throttled returns a handler whose failed_auth limit is rate, on a memory
// limiter driven by c.
func throttled(t *testing.T, res credentialResolver, rate string, c *clock) *Handler {
	t.Helper()
	h := newTestHandler(t, res)
	h.now = c.Now
	h.FailedAuth = []string{rate}
	if err := h.compileFailures(hub.NewLocalLimiter(c.Now)); err != nil {
		t.Fatal(err)
	}
	return h
}

// Failed authentications are limited per client network (issue 10, #8):
// past the limit, credential attempts from that network are refused with
// 429 and never reach the resolver (so never the upstream); other networks
// and, before the limit, valid credentials are not affected.
func TestFailedAuthThrottled(t *testing.T) {
	c := testutil.NewClock(time.Unix(1_750_000_000, 0))
	bad := &fakeResolver{err: hub.ErrUnknown}
	h := throttled(t, bad, "3/minute", c)
	key := header("Authorization", "Bearer "+testKey)
	for i := 0; i < 3; i++ {
		if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1"); r.rec.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, r.rec.Code)
		}
	}
	r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1")
	if r.rec.Code != 429 || r.problem["type"] != "urn:hubchantier:problem:auth-rate-limited" || r.rec.Header().Get("Retry-After") != "20" {
		t.Fatalf("4th failure: %d Retry-After %q %v", r.rec.Code, r.rec.Header().Get("Retry-After"), r.problem)
	}
	calls := bad.calls
	for i := 0; i < 50; i++ {
		if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1"); r.rec.Code != 429 || r.rec.Header().Get("Retry-After") == "" {
			t.Fatalf("attempt while throttled: %d", r.rec.Code)
		}
	}
	if bad.calls != calls {
		t.Fatalf("the resolver was asked %d times while the network was throttled", bad.calls-calls)
	}
	// A valid credential from the throttled network waits too (documented:
	// the network, not the credential, is throttled) …
	good := &fakeResolver{ident: keyIdentity("read")}
	h.resolver = good
	if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1"); r.rec.Code != 429 || good.calls != 0 {
		t.Fatalf("valid key from the throttled network: %d, %d resolver calls", r.rec.Code, good.calls)
	}
	// … other networks are not affected, and public routes never are.
	if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.2"); r.rec.Code != 204 {
		t.Fatalf("valid key from another network: %d", r.rec.Code)
	}
	if r := serve(t, h, "POST", "/api/auth/login", nil, "192.0.2.1"); r.rec.Code != 204 {
		t.Fatalf("public route from the throttled network: %d", r.rec.Code)
	}
	// Once the Retry-After has passed, one more attempt is let through.
	c.Add(20 * time.Second)
	if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1"); r.rec.Code != 204 {
		t.Fatalf("valid key after Retry-After: %d", r.rec.Code)
	}
}

// Below the limit, failures never make a valid credential fail; successes
// are not counted.
func TestFailedAuthBelowLimit(t *testing.T) {
	c := testutil.NewClock(time.Unix(1_750_000_000, 0))
	res := &fakeResolver{err: hub.ErrExpired}
	h := throttled(t, res, "3/minute", c)
	key := header("X-API-Key", testKey)
	for round := 0; round < 5; round++ {
		res.err, res.ident = hub.ErrExpired, nil
		for i := 0; i < 2; i++ {
			if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1"); r.rec.Code != 401 {
				t.Fatalf("round %d failure %d: %d", round, i+1, r.rec.Code)
			}
		}
		res.err, res.ident = nil, keyIdentity("read")
		for i := 0; i < 10; i++ {
			if r := serve(t, h, "GET", "/api/v1/chantiers", key, "192.0.2.1"); r.rec.Code != 204 {
				t.Fatalf("round %d success %d: %d", round, i+1, r.rec.Code)
			}
		}
		c.Add(40 * time.Second) // two units come back (one per 20 s)
	}
}

// IPv6 clients are counted by their /64 (#10).
func TestFailedAuthIPv6Prefix(t *testing.T) {
	c := testutil.NewClock(time.Unix(1_750_000_000, 0))
	h := throttled(t, &fakeResolver{err: hub.ErrUnknown}, "2/minute", c)
	key := header("Authorization", "Bearer "+testKey)
	for i := 0; i < 2; i++ {
		serve(t, h, "GET", "/api/v1/chantiers", key, "2001:db8:1:2::"+strconv.Itoa(i+1))
	}
	if r := serve(t, h, "GET", "/api/v1/chantiers", key, "2001:db8:1:2:ffff::9"); r.rec.Code != 429 {
		t.Fatalf("third address of one /64: %d", r.rec.Code)
	}
	if r := serve(t, h, "GET", "/api/v1/chantiers", key, "2001:db8:1:3::1"); r.rec.Code != 401 {
		t.Fatalf("another /64: %d", r.rec.Code)
	}
}
