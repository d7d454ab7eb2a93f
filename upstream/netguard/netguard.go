// Package netguard is the SSRF guard shared by outbound webhooks
// (upstream/webhooks) and connectors (upstream/connectors): a target URL
// whose host is, or resolves to, a loopback, private, link-local (cloud
// metadata), multicast or otherwise internal address is refused unless
// the operator allows private targets, and the address actually dialed
// is checked again at connect time (DialControl), so a DNS answer that
// changed since the URL was checked (DNS rebinding) cannot reach an
// internal host.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrPrivate is a target address refused by the guard.
var ErrPrivate = errors.New("the address is loopback, private, link-local or otherwise internal")

// blocked are the networks refused besides what netip classifies
// (loopback, private, link-local — which holds the 169.254.169.254 cloud
// metadata address — multicast, unspecified): the shared CGNAT range,
// IPv4 "this network", benchmarking and reserved ranges, and NAT64
// (AWS's IPv6 metadata address is inside the ULA range already).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach IPv4 internals
}

// PublicAddr reports whether ip is a public unicast address.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Guard checks target addresses.
type Guard struct {
	// AllowPrivate turns the guard off (local tests and stand-ins only).
	AllowPrivate bool
	// Resolver resolves host names in CheckHost (default
	// net.DefaultResolver).
	Resolver *net.Resolver
}

// CheckLiteral refuses a host that is an internal IP literal or a
// localhost name, without resolving anything (for validations that must
// not depend on DNS; DialControl still checks what is dialed).
func (g Guard) CheckLiteral(host string) error {
	if g.AllowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !PublicAddr(ip) {
			return fmt.Errorf("host %s: %w", host, ErrPrivate)
		}
		return nil
	}
	if h := strings.TrimSuffix(strings.ToLower(host), "."); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("host %s: %w", host, ErrPrivate)
	}
	return nil
}

// CheckHost refuses host when it is, or resolves to, an internal address.
func (g Guard) CheckHost(ctx context.Context, host string) error {
	if g.AllowPrivate {
		return nil
	}
	if err := g.CheckLiteral(host); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("host %s does not resolve", host)
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return fmt.Errorf("host %s resolves to %s: %w", host, a.Unmap(), ErrPrivate)
		}
	}
	return nil
}

// CheckURL validates a target URL: absolute http(s), a host, no
// credentials or fragment, at most 2048 characters, and a host that
// passes CheckHost.
func (g Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, errors.New("url must not hold credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("url must not have a fragment")
	}
	if len(raw) > 2048 {
		return nil, errors.New("url is longer than 2048 characters")
	}
	if err := g.CheckHost(ctx, u.Hostname()); err != nil {
		return nil, fmt.Errorf("url %w", err)
	}
	return u, nil
}

// DialControl is a net.Dialer's Control: it refuses, at connect time, an
// address the guard does not allow (the address actually dialed, after
// resolution).
func (g Guard) DialControl(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", ap.Addr().Unmap(), ErrPrivate)
	}
	return nil
}
