// Package hubmetrics is the hub_metrics HTTP handler: it observes every
// request of the site it wraps and feeds api_requests_total and
// api_request_duration_seconds (hub.GetMetrics) with bounded labels.
package hubmetrics

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("hub_metrics", parseCaddyfile)
	// Outermost of the hub handlers (docs/ARCHITECTURE.md, request path), so it sees
	// every outcome, including the 401s, 429s and 304s of the others.
	httpcaddyfile.RegisterDirectiveOrder("hub_metrics", httpcaddyfile.Before, "header")
}

// Handler records one api_requests_total{method,endpoint,status} and one
// api_request_duration_seconds{method,endpoint} observation per request.
// endpoint is the route template of the path (the hub app's routes), method is one of the standard
// methods or OTHER, status is the code sent (or, when a later handler
// returned an error, the error's code, which handle_errors will send).
// Bodies are never buffered. It has no options.
type Handler struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	now      func() time.Time
	routes   *hub.Routes
	fwd      *forwardedWarner
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_metrics",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision takes the process-wide collectors and registers them into this
// config's registry (they may be used without the hub app, in benchmarks).
func (h *Handler) Provision(ctx caddy.Context) error {
	m := hub.GetMetrics()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), m.RequestsTotal, m.RequestDuration); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.requests, h.duration, h.now = m.RequestsTotal, m.RequestDuration, time.Now
	h.routes = hub.RoutesOf(ctx)
	h.fwd = &forwardedWarner{log: ctx.Logger()}
	return nil
}

// ServeHTTP times the rest of the chain and records its outcome.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := h.now()
	h.fwd.check(r, start)
	// Outermost, hub_metrics installs the request's one status recorder
	// (bodies stream through); hub_anomaly reads the same one.
	st := hub.TrackStatus(w, r)
	err := next.ServeHTTP(st.Writer(), r)
	status := st.Final(err)
	method, endpoint := Method(r.Method), h.routes.Of(r)
	h.requests.WithLabelValues(method, endpoint, statusLabel(status)).Inc()
	h.duration.WithLabelValues(method, endpoint).Observe(h.now().Sub(start).Seconds())
	return err
}

// Method maps a request method to a bounded label: the methods of RFC 9110
// §9 and PATCH (RFC 5789) as they are, anything else OTHER (methods are
// client-chosen tokens).
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusLabel bounds the status label to three-digit codes.
func statusLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return strconv.Itoa(code)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hub_metrics
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() || d.NextBlock(0) {
		return d.Errf("hub_metrics takes no arguments or options, got %q", d.Val())
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
