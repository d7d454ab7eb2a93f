package webhooks

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

// errPrivate is a target address refused by the SSRF guard.
var errPrivate = errors.New("the address is loopback, private, link-local or otherwise internal")

// blocked are the networks a webhook may not reach unless the operator
// allows private targets (HUB_WEBHOOK_ALLOW_PRIVATE=true): besides what
// netip classifies (loopback, private, link-local — which holds the
// 169.254.169.254 cloud metadata address — multicast, unspecified), the
// shared CGNAT range, IPv4 "this network", benchmarking and reserved
// ranges, and AWS's IPv6 metadata address (inside the ULA range already).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach IPv4 internals
}

// publicAddr reports whether ip is a public unicast address.
func publicAddr(ip netip.Addr) bool {
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

// guard checks target addresses.
type guard struct {
	allowPrivate bool
	resolver     *net.Resolver
}

// checkURL validates a webhook URL: absolute http(s), a host, no
// credentials or fragment, and, unless private targets are allowed, every
// address the host resolves to public. It is checked again on every
// dial (dialControl), so a name that later resolves elsewhere (DNS
// rebinding) is refused then.
func (g guard) checkURL(ctx context.Context, raw string) (*url.URL, error) {
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
	if g.allowPrivate {
		return u, nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(ip) {
			return nil, fmt.Errorf("url host %s: %w", host, errPrivate)
		}
		return u, nil
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return nil, fmt.Errorf("url host %s: %w", host, errPrivate)
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("url host %s does not resolve", host)
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return nil, fmt.Errorf("url host %s resolves to %s: %w", host, a.Unmap(), errPrivate)
		}
	}
	return u, nil
}

// dialControl refuses, at connect time, an address the guard does not
// allow: the address actually dialed, after resolution, so a DNS answer
// that changed since the URL was checked cannot reach an internal host.
func (g guard) dialControl(network, address string, _ syscall.RawConn) error {
	if g.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("webhook dial %s: %w", ap.Addr().Unmap(), errPrivate)
	}
	return nil
}
