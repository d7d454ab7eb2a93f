package hubbreaker

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(ErrorHandler{})
	httpcaddyfile.RegisterHandlerDirective("hub_breaker_error", parseErrorHandler)
	// In handle_errors, before the generic respond.
	httpcaddyfile.RegisterDirectiveOrder("hub_breaker_error", httpcaddyfile.Before, "respond")
}

// DefaultUnavailableRetryAfter is the Retry-After of a 503 made while the
// breaker is closed: the passive health checks' fail_duration of the
// shipped Caddyfile, the longest the upstream stays marked down.
const DefaultUnavailableRetryAfter = 10 * time.Second

// ProblemUpstreamUnavailable is the one problem type of every 503 the
// gateway makes because the upstream cannot serve: breaker open, upstream
// marked down by passive health checks ("no upstreams available"),
// identity introspection impossible (hub_auth).
const ProblemUpstreamUnavailable = "upstream-unavailable"

// ErrorHandler belongs in handle_errors. It answers every 503 error, the
// gateway's "the upstream is unavailable", with problem type
// upstream-unavailable and a Retry-After: while the named breaker refuses
// traffic, the seconds left until it lets a probe through; otherwise (the
// passive health checks took the upstream out: reverse_proxy's "no
// upstreams available") RetryAfter. With AllErrors it also answers every
// other error (502, 504, 413, 408…) as a gateway-error problem; otherwise
// those go on to the next error handler. On the OAuth endpoints the
// answers are RFC 6749 §5.2 errors (hub.WriteProblem).
//
// Why a handler and not a placeholder: Caddy calls the breaker without the
// request (OK() during upstream selection), so the breaker cannot mark the
// request; at error-handling time a handler can ask the breaker directly.
type ErrorHandler struct {
	// Breaker is the name of the circuit breaker (its name option). Default
	// "upstream".
	Breaker string `json:"breaker,omitempty"`
	// RetryAfter is the Retry-After of a 503 while the breaker is closed
	// (passive health checks): set it to the reverse proxy's fail_duration.
	// Default 10s; rounded up to whole seconds.
	RetryAfter caddy.Duration `json:"retry_after,omitempty"`
	// AllErrors makes the handler answer every error, not only 503s: the
	// status of the error and problem type gateway-error. Default false.
	AllErrors bool `json:"all_errors,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (ErrorHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_breaker_error",
		New: func() caddy.Module { return new(ErrorHandler) },
	}
}

// Provision sets the defaults.
func (e *ErrorHandler) Provision(caddy.Context) error {
	if e.Breaker == "" {
		e.Breaker = DefaultName
	}
	if e.RetryAfter <= 0 {
		e.RetryAfter = caddy.Duration(DefaultUnavailableRetryAfter)
	}
	return nil
}

// ServeHTTP answers the error or passes it on.
func (e *ErrorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	status := errorStatus(r)
	if status == http.StatusServiceUnavailable {
		detail := "the upstream cannot serve right now; retry later"
		secs := int(max((time.Duration(e.RetryAfter)+time.Second-1)/time.Second, 1))
		if c := lookup(e.Breaker); c != nil && c.State() != gobreaker.StateClosed {
			secs = c.RetryAfter()
			detail = "the upstream is failing; the gateway stopped sending it requests for a while"
		}
		// RFC 9110 §10.2.3: delay-seconds; §15.6.4: 503 may carry Retry-After.
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		hub.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, ProblemUpstreamUnavailable, "Upstream unavailable", detail).
			With("retry_after", secs))
		return nil
	}
	if !e.AllErrors || status == 0 {
		return next.ServeHTTP(w, r)
	}
	hub.WriteProblem(w, r, problem.New(status, "gateway-error", http.StatusText(status),
		"the gateway could not complete the request"))
	return nil
}

// errorStatus is the status of the error being handled: that of a
// caddyhttp.HandlerError, 500 for any other error, 0 when there is none.
func errorStatus(r *http.Request) int {
	err, _ := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	if err == nil {
		return 0
	}
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode <= 599 {
		return he.StatusCode
	}
	return http.StatusInternalServerError
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	handle_errors {
//	    hub_breaker_error [<breaker name>] {   # default upstream
//	        retry_after <duration>             # 503s while the breaker is closed; default 10s
//	        all_errors                         # answer every error, not only 503s
//	    }
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
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "retry_after":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("retry_after %q: want a positive duration such as 10s", d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			e.RetryAfter = caddy.Duration(dur)
		case "all_errors":
			if d.NextArg() {
				return d.ArgErr()
			}
			e.AllErrors = true
		default:
			return d.Errf("hub_breaker_error: unknown option %q", d.Val())
		}
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
