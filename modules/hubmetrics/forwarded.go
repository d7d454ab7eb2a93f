package hubmetrics

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// forwardedWarnEvery spaces the untrusted-forwarding warnings.
const forwardedWarnEvery = 10 * time.Minute

// forwardedWarner logs, at most once per forwardedWarnEvery, that a request
// carried X-Forwarded-For from a peer outside the server's
// trusted_proxies: Caddy then ignores the header, so every client behind
// that peer (a load balancer, most likely) counts as the peer itself in
// per-IP limits, IP allowlists, the audit's ip_address and anomaly
// detection. A missing trusted_proxies is the usual cause
// (docs/deployment.md).
type forwardedWarner struct {
	log  *zap.Logger
	last atomic.Int64 // unix nanoseconds of the last warning
}

// check looks at one request; it costs a header lookup when nothing is
// forwarded.
func (f *forwardedWarner) check(r *http.Request, now time.Time) {
	if f == nil || f.log == nil || r.Header.Get("X-Forwarded-For") == "" {
		return
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		return
	}
	last := f.last.Load()
	if last != 0 && now.UnixNano()-last < int64(forwardedWarnEvery) {
		return
	}
	if !f.last.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	f.log.Warn("X-Forwarded-For from a peer outside trusted_proxies is ignored: behind a load balancer, "+
		"every client counts as the balancer (per-IP limits, allowlists, audit ip_address); "+
		"list the balancer in the servers' trusted_proxies (docs/deployment.md). Next warning in 10m at most.",
		zap.String("peer", peer))
}
