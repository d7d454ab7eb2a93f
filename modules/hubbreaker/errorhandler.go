package hubbreaker

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/hubchantier/hubgate/internal/problem"
)

func init() {
	caddy.RegisterModule(ErrorHandler{})
	httpcaddyfile.RegisterHandlerDirective("hub_breaker_error", parseErrorHandler)
	// In handle_errors, before the generic respond.
	httpcaddyfile.RegisterDirectiveOrder("hub_breaker_error", httpcaddyfile.Before, "respond")
}

// ErrorHandler belongs in handle_errors. When the request failed with 503
// while the named breaker refuses traffic (reverse_proxy's "no upstreams
// available"), it answers 503 problem+json with Retry-After set to the
// seconds left until the breaker lets a probe through; otherwise it passes
// the request on to the next error handler.
//
// Why a handler and not a placeholder: Caddy calls the breaker without the
// request (OK() during upstream selection), so the breaker cannot mark the
// request; at error-handling time a handler can ask the breaker directly.
type ErrorHandler struct {
	// Breaker is the name of the circuit breaker (its name option). Default
	// "upstream".
	Breaker string `json:"breaker,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (ErrorHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_breaker_error",
		New: func() caddy.Module { return new(ErrorHandler) },
	}
}

// Provision sets the default name.
func (e *ErrorHandler) Provision(caddy.Context) error {
	if e.Breaker == "" {
		e.Breaker = DefaultName
	}
	return nil
}

// ServeHTTP answers for the breaker or passes on.
func (e *ErrorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	c := lookup(e.Breaker)
	if c == nil || !is503(r) || c.State() == gobreaker.StateClosed {
		return next.ServeHTTP(w, r)
	}
	secs := c.RetryAfter()
	// RFC 9110 §10.2.3: delay-seconds; §15.6.4: 503 may carry Retry-After.
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "upstream-unavailable", "Upstream unavailable",
		"the upstream is failing; the gateway stopped sending it requests for a while").
		With("retry_after", secs))
	return nil
}

// is503 reports whether the request is being handled for a 503 error.
func is503(r *http.Request) bool {
	err, _ := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	var he caddyhttp.HandlerError
	return err != nil && errors.As(err, &he) && he.StatusCode == http.StatusServiceUnavailable
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	handle_errors {
//	    hub_breaker_error [<breaker name>]   # default upstream
//	    ...
//	}
func (e *ErrorHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		e.Breaker = d.Val()
		if !validName.MatchString(e.Breaker) {
			return d.Errf("hub_breaker_error: bad breaker name %q", e.Breaker)
		}
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

func parseErrorHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	e := new(ErrorHandler)
	err := e.UnmarshalCaddyfile(h.Dispenser)
	return e, err
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = (*ErrorHandler)(nil)
	_ caddy.Provisioner           = (*ErrorHandler)(nil)
	_ caddyfile.Unmarshaler       = (*ErrorHandler)(nil)
)
