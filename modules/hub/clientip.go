package hub

import (
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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
