package hub

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// DefaultIPv6Prefix is how many leading bits of an IPv6 client address
// name its network for per-IP limits: one /64 is what a single subscriber
// or host usually holds, and picking a new address inside it is free.
const DefaultIPv6Prefix = 64

// ClientIP returns Caddy's client_ip for the request, which honours the
// server's trusted_proxies (X-Forwarded-For is never parsed by hand), or
// the connection's address when the variable is missing (outside Caddy).
func ClientIP(r *http.Request) string {
	if s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); s != "" {
		return s
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientNetwork returns what per-IP limits count the request's client by
// (docs/ratelimit.md): its IPv4 address (/32; an IPv4-mapped IPv6 address
// counts as IPv4), or its IPv6 address masked to v6Bits bits ("2001:db8:1:2::/64"),
// since a client that holds a whole IPv6 prefix could otherwise take a new
// address, and a new quota, for every request. v6Bits outside 1..128 means
// DefaultIPv6Prefix. A client address that does not parse (outside Caddy,
// a unix socket) is returned as it is.
func ClientNetwork(r *http.Request, v6Bits int) string {
	s := ClientIP(r)
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	if v6Bits < 1 || v6Bits > 128 {
		v6Bits = DefaultIPv6Prefix
	}
	p, _ := a.Prefix(v6Bits)
	return p.String()
}
