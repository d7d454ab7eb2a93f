// Package hubbatch is the hub_batch HTTP handler: it answers POST
// /api/v1/batch (and /api/v2/batch) itself, running each operation of the
// batch as a sub-request through the same Caddy server, so that every
// policy (audit, auth, rate limits, anomaly detection, ETags, ?fields=, v2
// renaming, cache invalidation) and the proxy apply to each operation
// exactly as to a single request (docs/batch.md).
//
// Why sub-requests through the server rather than a fan-out of its own:
// batch plugins of other gateways forward the operations straight to the
// upstream and so skip per-operation policies; going through the server's
// own routes makes skipping one impossible, including policies added
// later. The batch call itself is authenticated and rate limited like any
// request (hub_batch sits after hub_auth, hub_rate_limit and
// hub_request_body).
package hubbatch

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	DefaultMaxOperations = 100
	DefaultParallelism   = 4
	DefaultTimeout       = 60 * time.Second
	DefaultMaxResultSize = 1 << 20
	// DefaultMaxBodySize bounds the batch body this handler reads (the
	// Caddyfile's hub_request_body usually refuses larger bodies first).
	DefaultMaxBodySize = 1 << 20
)

// DefaultHeaders are the request headers an operation may set by default:
// the conditional and content-negotiation headers a single request would
// send. Credentials and X-Hub-* are never among them: an operation runs
// as the batch's caller.
var DefaultHeaders = []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "Content-Type", "Accept", "Accept-Language", "Prefer", "Idempotency-Key"}

// resultHeaders are the response headers copied into an operation's
// result: those a client acts on. Hop-by-hop and framing headers are not.
var resultHeaders = []string{"Content-Type", "ETag", "Last-Modified", "Location", "Retry-After", "Allow",
	"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"X-Request-Id", "Cache-Status", "Deprecation", "Sunset", "Link", "WWW-Authenticate", "Vary", "Cache-Control", "Idempotent-Replayed"}

// Handler answers batch calls.
type Handler struct {
	// MaxOperations is the largest number of operations in one batch;
	// more is refused whole with 400 (batch-too-large). Default 100.
	MaxOperations int `json:"max_operations,omitempty"`
	// Parallelism bounds the operations of a parallel batch that run at
	// once. Default 4.
	Parallelism int `json:"parallelism,omitempty"`
	// Timeout is the overall deadline of a batch, counted from the moment
	// this handler starts it; operations not finished by then get 504.
	// Default 60s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxResultSize bounds one operation's response body kept in the
	// batch's answer, in bytes; a larger body gives that operation a 502
	// problem (batch-result-too-large). Default 1 MiB.
	MaxResultSize int64 `json:"max_result_size,omitempty"`
	// MaxBodySize bounds the batch body read by this handler, in bytes
	// (413 above). Default 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// Headers are the request headers an operation may set (its "headers"
	// member); any other is refused with 400. Default DefaultHeaders.
	// Authorization, X-API-Key and X-Hub-* can never be allowed.
	Headers []string `json:"headers,omitempty"`

	allowed map[string]bool
	app     *hub.App
	log     *zap.Logger
	metrics metrics
	now     func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_batch",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets the defaults, finds the hub app (for atomic batches) and
// registers the metrics.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.MaxOperations == 0 {
		h.MaxOperations = DefaultMaxOperations
	}
	if h.Parallelism == 0 {
		h.Parallelism = DefaultParallelism
	}
	if h.Timeout == 0 {
		h.Timeout = caddy.Duration(DefaultTimeout)
	}
	if h.MaxResultSize == 0 {
		h.MaxResultSize = DefaultMaxResultSize
	}
	if h.MaxBodySize == 0 {
		h.MaxBodySize = DefaultMaxBodySize
	}
	if len(h.Headers) == 0 {
		h.Headers = DefaultHeaders
	}
	h.allowed = map[string]bool{}
	for _, name := range h.Headers {
		h.allowed[textproto.CanonicalMIMEHeaderKey(name)] = true
	}
	h.log = ctx.Logger()
	h.now = time.Now
	// The hub app (atomic batches open their transaction through its
	// internal client); without it, atomic batches are refused.
	if app, err := ctx.AppIfConfigured("hub"); err == nil {
		h.app = app.(*hub.App)
	}
	h.metrics = collectors()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.metrics.batches, h.metrics.operations); err != nil {
		return fmt.Errorf("hub_batch metrics: %w", err)
	}
	return nil
}

// Validate checks the limits and the header allowlist.
func (h *Handler) Validate() error {
	if h.MaxOperations < 1 || h.Parallelism < 1 || h.Timeout < 0 || h.MaxResultSize < 0 || h.MaxBodySize < 0 {
		return errors.New("hub_batch: max_operations and parallelism must be at least 1, sizes and timeout positive")
	}
	for _, name := range h.Headers {
		c := textproto.CanonicalMIMEHeaderKey(name)
		if c == "Authorization" || c == "X-Api-Key" || c == "Cookie" || strings.HasPrefix(c, "X-Hub-") {
			return fmt.Errorf("hub_batch: header %q cannot be set by an operation (credentials and X-Hub-* never are)", name)
		}
	}
	return nil
}

// ServeHTTP answers POST <prefix>/batch; other requests go to next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	prefix, ok := strings.CutSuffix(r.URL.Path, "/batch")
	if !ok || prefix == "" {
		return next.ServeHTTP(w, r)
	}
	if hub.BatchOf(r) != nil {
		// A batch inside a batch (its path came from a reference, or
		// another route): refused, never run recursively.
		h.metrics.batches.WithLabelValues("nested").Inc()
		hub.WriteProblem(w, r, problem.New(http.StatusUnprocessableEntity, "nested-batch", "Nested batch",
			"a batch operation cannot be a batch"))
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		hub.WriteProblem(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed",
			"a batch is sent with POST"))
		return nil
	}
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil {
		return caddyhttp.Error(http.StatusInternalServerError, errors.New("hub_batch: no caddy server in the request context"))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.MaxBodySize+1))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("hub_batch: reading the body: %w", err))
	}
	if int64(len(body)) > h.MaxBodySize {
		hub.WriteProblem(w, r, problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			fmt.Sprintf("a batch body is at most %d bytes", h.MaxBodySize)).With("limit", h.MaxBodySize))
		return nil
	}
	b, err := parseBatch(body, h.MaxOperations, h.allowed)
	if err != nil {
		h.metrics.batches.WithLabelValues("invalid").Inc()
		return h.refuse(w, r, err)
	}
	h.metrics.batches.WithLabelValues("accepted").Inc()
	results := h.run(r, srv, prefix, b)
	return writeResults(w, results)
}

// refuse answers a batch that cannot run at all.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	var tooMany *errTooMany
	var invalid *errInvalid
	switch {
	case errors.As(err, &tooMany):
		hub.WriteProblem(w, r, problem.New(http.StatusBadRequest, "batch-too-large", "Too many operations", tooMany.Error()).
			With("limit", tooMany.limit).With("operations", tooMany.n))
	case errors.As(err, &invalid):
		p := problem.New(http.StatusBadRequest, "invalid-batch", "Invalid batch", invalid.detail)
		if len(invalid.fields) > 0 {
			p = p.With("errors", invalid.fields)
		}
		hub.WriteProblem(w, r, p)
	default:
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
