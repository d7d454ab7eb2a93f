package auth

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// loginFrom posts to /api/auth/login as the gateway forwards a client at ip.
func loginFrom(e *env, ip, email, password string) resp {
	e.t.Helper()
	return e.callHeaders("POST", "/api/auth/login", map[string]string{"email": email, "password": password}, nil,
		map[string]string{"X-Forwarded-For": ip})
}

// TestLoginThrottlePerAccountAndNetwork (finding #3): after 5 bad passwords
// for one account from one client network, that network gets 429 with
// Retry-After for that account — even with the right password, and without
// a password comparison — while the real user from elsewhere still logs in
// and other accounts from the same network are unaffected. Unknown emails
// are throttled alike (no account enumeration), IPv6 clients are grouped
// by /64, and the window ends.
func TestLoginThrottlePerAccountAndNetwork(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		admin := e.users[RoleAdmin].Email
		const attacker, user = "203.0.113.9", "198.51.100.4"
		for i := 0; i < DefaultLoginMaxFailures; i++ {
			expect(t, loginFrom(e, attacker, admin, "guess-"+strconv.Itoa(i)), 401)
		}
		r := loginFrom(e, attacker, admin, "password-admin")
		expect(t, r, 429)
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if ra < 1 || ra > int(DefaultLoginWindow.Seconds()) || r.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(r.Body), "login-throttled") {
			t.Fatalf("throttled answer: Retry-After %q %v %s", r.Header.Get("Retry-After"), r.Header, r.Body)
		}
		expect(t, loginFrom(e, user, admin, "password-admin"), 200)
		expect(t, loginFrom(e, attacker, e.users[RoleOuvrier].Email, "password-ouvrier"), 200)

		for i := 0; i < DefaultLoginMaxFailures; i++ {
			expect(t, loginFrom(e, attacker, "nobody@example.test", "x-"+strconv.Itoa(i)), 401)
		}
		expect(t, loginFrom(e, attacker, "nobody@example.test", "x"), 429)

		for i := 0; i < DefaultLoginMaxFailures; i++ {
			expect(t, loginFrom(e, "2001:db8:7:7::"+strconv.Itoa(i+1), e.users[RoleConducteur].Email, "nope-nope"), 401)
		}
		expect(t, loginFrom(e, "2001:db8:7:7:ffff::1", e.users[RoleConducteur].Email, "password-conducteur"), 429)
		expect(t, loginFrom(e, "2001:db8:7:8::1", e.users[RoleConducteur].Email, "password-conducteur"), 200)

		e.clock.Add(DefaultLoginWindow)
		expect(t, loginFrom(e, attacker, admin, "password-admin"), 200)
	})
}

// TestLoginSuccessClearsFailures: the user who mistyped a few times and
// then logged in starts afresh.
func TestLoginSuccessClearsFailures(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	admin := e.users[RoleAdmin].Email
	for i := 0; i < DefaultLoginMaxFailures-1; i++ {
		expect(t, loginFrom(e, "198.51.100.4", admin, "typo-typo"), 401)
	}
	expect(t, loginFrom(e, "198.51.100.4", admin, "password-admin"), 200)
	for i := 0; i < DefaultLoginMaxFailures-1; i++ {
		expect(t, loginFrom(e, "198.51.100.4", admin, "typo-typo"), 401)
	}
	expect(t, loginFrom(e, "198.51.100.4", admin, "password-admin"), 200)
}

// TestThrottleBounded: windows are dropped when they end, and a full
// throttle drops its oldest window instead of growing.
func TestThrottleBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	th := NewThrottle(2, time.Minute, 3)
	for i := 0; i < 10; i++ {
		th.Fail("k"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Second))
	}
	if n, ev := th.Len(); n != 3 || ev != 7 {
		t.Fatalf("held %d evicted %d, want 3 and 7", n, ev)
	}
	th.Fail("k9", t0.Add(10*time.Second))
	if w := th.Wait("k9", t0.Add(10*time.Second)); w != 59*time.Second {
		t.Fatalf("k9 wait %s, want 59s", w)
	}
	if w := th.Wait("k0", t0.Add(10*time.Second)); w != 0 {
		t.Fatalf("evicted key still waits %s", w)
	}
	if w := th.Wait("k9", t0.Add(2*time.Minute)); w != 0 {
		t.Fatal("window did not end")
	}
	if n, _ := th.Len(); n != 0 {
		t.Fatalf("%d windows left after they all ended", n)
	}
}

// TestClientIPTrust: X-Forwarded-For is believed only with a valid gateway
// assertion; IPv6 addresses group by prefix.
func TestClientIPTrust(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	req := newRequest(t, e, "POST", map[string]string{"X-Forwarded-For": "203.0.113.1, 10.0.0.1"}, true)
	if got := e.s.ClientIP(req); got != "203.0.113.1" {
		t.Fatalf("through the gateway: %s", got)
	}
	req = newRequest(t, e, "POST", map[string]string{"X-Forwarded-For": "203.0.113.1"}, false)
	if got := e.s.ClientIP(req); got != "192.0.2.1" {
		t.Fatalf("without an assertion the header must be ignored: %s", got)
	}
	for in, want := range map[string]string{"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "::ffff:192.0.2.7": "192.0.2.7/32", "bogus": "bogus"} {
		if got := IPNetwork(in, 32, 64); got != want {
			t.Errorf("IPNetwork(%s) = %s, want %s", in, got, want)
		}
	}
}

// newRequest is a request from 192.0.2.1 (httptest's peer) with headers,
// signed by the gateway when signed is set.
func newRequest(t *testing.T, e *env, method string, h map[string]string, signed bool) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, "/oauth/token", nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if signed {
		sig, err := assertion.Sign(testSecret, assertion.Claims{Method: assertion.MethodAnonymous, HTTPMethod: method}, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(assertion.Header, sig)
	}
	return req
}

// TestLoginThrottleParallelBurst: 20 parallel guesses from one address get
// at most 5 password comparisons; the others are 429 at once.
func TestLoginThrottleParallelBurst(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	admin := e.users[RoleAdmin].Email
	codes := make(chan int, 20)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- loginFrom(e, "203.0.113.50", admin, "burst-guess").Code
		}()
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[401] != DefaultLoginMaxFailures || n[429] != 20-DefaultLoginMaxFailures {
		t.Fatalf("answers %v, want %d×401 and the rest 429", n, DefaultLoginMaxFailures)
	}
}
