package auth

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// Defaults of the per-account login throttle (LoginThrottleOptions).
const (
	DefaultLoginMaxFailures = 5
	DefaultLoginWindow      = 15 * time.Minute
	DefaultThrottleCapacity = 65536
	DefaultIPv4Prefix       = 32
	DefaultIPv6Prefix       = 64
)

// LoginThrottleOptions configures the per-account slowdown of password
// checks (POST /api/auth/login and the OAuth2 sign-in form). Zero values
// take the defaults.
type LoginThrottleOptions struct {
	// MaxFailures failed passwords for one account from one client network
	// (see IPv4Prefix, IPv6Prefix) within Window make further attempts for
	// that account from that network answer 429 until the window ends;
	// defaults 5 per 15 minutes. Other networks are not affected, so an
	// attacker cannot lock the real user out.
	MaxFailures int
	// Window is the length of a counting window, starting at the first
	// failure; default 15 minutes.
	Window time.Duration
	// Capacity is the most (account, network) windows kept in memory;
	// default 65536. When full, the oldest window is dropped.
	Capacity int
	// IPv4Prefix and IPv6Prefix group client addresses into networks;
	// defaults /32 (one address) and /64 (one customer link).
	IPv4Prefix, IPv6Prefix int
}

func (o *LoginThrottleOptions) defaults() {
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultLoginMaxFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultLoginWindow
	}
	if o.Capacity <= 0 {
		o.Capacity = DefaultThrottleCapacity
	}
	if o.IPv4Prefix <= 0 || o.IPv4Prefix > 32 {
		o.IPv4Prefix = DefaultIPv4Prefix
	}
	if o.IPv6Prefix <= 0 || o.IPv6Prefix > 128 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
}

// ThrottledError is returned by Login when the account is throttled for
// the caller's network; nothing was checked.
type ThrottledError struct {
	// RetryAfter is how long the caller must wait.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins for this account from this network; retry in %s", e.RetryAfter)
}

// Seconds is RetryAfter rounded up to whole seconds (at least 1), for a
// Retry-After header.
func (e *ThrottledError) Seconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Login checks a password like Authenticate, behind the per-account
// throttle: an (account, client network) pair that failed too often is
// refused with a *ThrottledError before any password comparison. A success
// clears the pair's failures. Unknown emails are counted like known ones,
// so the throttle tells nothing about which accounts exist.
func (s *Service) Login(ctx context.Context, r *http.Request, email, password string) (User, error) {
	key := strings.ToLower(strings.TrimSpace(email)) + "\x00" + s.clientNet(r)
	// The attempt counts as a failure from the start (Take), so parallel
	// guesses cannot all pass the check before any of them failed.
	if wait := s.loginThrottle.Take(key, s.now()); wait > 0 {
		return User{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := s.Authenticate(ctx, email, password)
	if err == nil {
		s.loginThrottle.Forget(key)
	}
	return u, err
}

// clientNet is the caller's network for the login throttle.
func (s *Service) clientNet(r *http.Request) string {
	return IPNetwork(s.ClientIP(r), s.o.LoginThrottle.IPv4Prefix, s.o.LoginThrottle.IPv6Prefix)
}

// FromGateway reports whether r carries a valid identity assertion: only
// the gateway can sign one, so its forwarding headers can be believed.
func (s *Service) FromGateway(r *http.Request) bool {
	h := r.Header.Get(assertion.Header)
	if h == "" || len(s.o.GatewaySecret) == 0 {
		return false
	}
	_, err := assertion.VerifyAny([][]byte{s.o.GatewaySecret, s.o.AcceptSecret}, h, r.Method, s.now())
	return err == nil
}

// ClientIP is the address of the client as far as the upstream can tell.
// Through the gateway (a valid assertion) it is the first X-Forwarded-For
// entry: Caddy's reverse_proxy replaces the header with the connection's
// address unless the peer is one of its trusted_proxies, like its
// client_ip. Without an assertion (someone reaching the upstream directly)
// the header is ignored and the TCP peer is the client.
func (s *Service) ClientIP(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" && s.FromGateway(r) {
		first, _, _ := strings.Cut(f, ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
			return a.Unmap().String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// IPNetwork groups ip into its /v4 (IPv4) or /v6 (IPv6) network, in CIDR
// form; a string that is not an address is returned as is (truncated).
func IPNetwork(ip string, v4, v6 int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > 64 {
			ip = ip[:64]
		}
		return ip
	}
	a = a.Unmap().WithZone("")
	bits := v6
	if a.Is4() {
		bits = v4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}
