// Package hubbody is the hub_request_body HTTP handler: it reads a request
// body completely, within a size limit and a time limit, before any later
// handler or the upstream sees it.
//
// Why a handler of its own: a body the client breaks (malformed chunked
// encoding, fewer bytes than Content-Length, a client that hangs up) used
// to fail inside reverse_proxy, while the body was being streamed to the
// upstream. Caddy then answers 502 and its passive health checks count the
// failure against the upstream, so a handful of anonymous broken POSTs took
// every route out for fail_duration. Read here first, the same bodies are
// the client's 400 (408 when too slow, 413 when too large), the upstream
// never hears of them, and the handlers after this one (hub_version's body
// renaming, the proxy) read from memory. A body trickled in one byte at a
// time cannot hold a connection open for longer than read_timeout either.
package hubbody

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	// DefaultMaxSize is the largest body accepted by default: 1 MiB, the
	// upstream's own limit on JSON bodies.
	DefaultMaxSize = 1 << 20
	// DefaultReadTimeout bounds the reading of a whole body by default.
	DefaultReadTimeout = 30 * time.Second
)

// Handler buffers request bodies.
type Handler struct {
	// MaxSize is the largest request body accepted, in bytes. A request
	// that declares a larger Content-Length, or streams more, is refused
	// with 413 before the upstream sees it. Default 1 MiB.
	MaxSize int64 `json:"max_size,omitempty"`
	// ReadTimeout is the longest time allowed to receive a whole body,
	// counted from the moment this handler starts reading it. A slower
	// body is refused with 408 and the connection is closed. Default 30s.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	rejected *prometheus.CounterVec
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_request_body",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets the defaults and registers the metrics.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.MaxSize == 0 {
		h.MaxSize = DefaultMaxSize
	}
	if h.ReadTimeout == 0 {
		h.ReadTimeout = caddy.Duration(DefaultReadTimeout)
	}
	h.rejected = collectors()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.rejected); err != nil {
		return fmt.Errorf("hub_request_body metrics: %w", err)
	}
	return nil
}

// Validate checks the limits.
func (h *Handler) Validate() error {
	if h.MaxSize < 0 {
		return fmt.Errorf("hub_request_body: max_size must be positive, got %d", h.MaxSize)
	}
	if h.ReadTimeout < 0 {
		return fmt.Errorf("hub_request_body: read_timeout must be positive, got %s", time.Duration(h.ReadTimeout))
	}
	return nil
}

// Reasons a body is refused: the values of the reason label of
// hub_request_body_rejected_total, and the problem types' slugs.
const (
	reasonMalformed = "malformed-body"
	reasonTooLarge  = "body-too-large"
	reasonTimeout   = "body-timeout"
)

// ServeHTTP reads the body, then hands an in-memory copy to next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !hasBody(r) {
		return next.ServeHTTP(w, r)
	}
	if r.ContentLength > h.MaxSize {
		return h.refuse(w, r, reasonTooLarge)
	}
	// Not pooled: the proxy's transport may go on reading the body after
	// the round trip returned (net/http's RoundTrip contract), so a buffer
	// handed back when ServeHTTP returns could be refilled by another
	// request while it is still being sent. Only requests with a body pay.
	buf := new(bytes.Buffer)
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if err := h.read(w, r, buf); err != nil {
		return h.refuse(w, r, classify(err))
	}
	r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	r.ContentLength = int64(buf.Len())
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	r.Header.Set("Content-Length", strconv.Itoa(buf.Len()))
	return next.ServeHTTP(w, r)
}

// hasBody reports whether r may carry body bytes. Protocol upgrades
// (WebSocket) stream and are left alone.
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Upgrade") != "" {
		return false
	}
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0
}

// read copies at most MaxSize+1 bytes of the body into buf before the read
// deadline. The deadline is on the connection (through the response
// controller), so a client that sends nothing at all is cut off too; it is
// lifted afterwards for the rest of the request (Caddy's own server
// timeouts apply to the next request on the connection).
func (h *Handler) read(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) error {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(time.Duration(h.ReadTimeout))
	if err := rc.SetReadDeadline(deadline); err == nil {
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, h.MaxSize+1))
	if err == nil && n > h.MaxSize {
		return &http.MaxBytesError{Limit: h.MaxSize}
	}
	return err
}

// classify names why reading a body failed.
func classify(err error) string {
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return reasonTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return reasonTimeout
	default:
		// Malformed chunked encoding, fewer bytes than Content-Length,
		// a connection closed mid-body: the client's doing, in every case.
		return reasonMalformed
	}
}

// refuse answers a refused body. The rest of the body is not read, so the
// connection is closed after the answer.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, reason string) error {
	if h.rejected != nil {
		h.rejected.WithLabelValues(reason).Inc()
	}
	w.Header().Set("Connection", "close")
	var p *problem.Problem
	switch reason {
	case reasonTooLarge:
		p = problem.New(http.StatusRequestEntityTooLarge, reason, "Request body too large",
			fmt.Sprintf("the body exceeds %d bytes", h.MaxSize))
	case reasonTimeout:
		p = problem.New(http.StatusRequestTimeout, reason, "Request body too slow",
			fmt.Sprintf("the body was not received within %s", time.Duration(h.ReadTimeout)))
	default:
		p = problem.New(http.StatusBadRequest, reason, "Malformed request body",
			"the request body could not be read (broken chunked encoding, or fewer bytes than announced)")
	}
	hub.WriteProblem(w, r, p)
	return nil
}

// rejected is hub_request_body_rejected_total, one per process
// (hub.NewCounterVec) so its values survive config reloads.
var rejected = hub.NewCounterVec(prometheus.CounterOpts{
	Name: "hub_request_body_rejected_total",
	Help: "Request bodies refused by hub_request_body, by reason (malformed-body, body-too-large, body-timeout).",
}, []string{"reason"})

// collectors returns the module's collectors.
func collectors() *prometheus.CounterVec { return rejected }

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
