// Package hubidempotency is the hub_idempotency handler: the
// Idempotency-Key request header (draft-ietf-httpapi-idempotency-key-header)
// for the gateway's non-idempotent methods. The first answer to a
// (principal, key) is kept in the hub store and replayed to retries of the
// same request; see docs/idempotency.md.
package hubidempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
	DefaultTTL         = 24 * time.Hour
	DefaultLockTTL     = 2 * time.Minute
	DefaultMaxSize     = 1 << 20
	DefaultMaxBodySize = 1 << 20
)

// DefaultMethods are the methods whose requests a key applies to: those
// that are neither safe nor idempotent (RFC 9110 §9.2.2). PUT and DELETE
// are idempotent by definition and need no key.
var DefaultMethods = []string{http.MethodPost, http.MethodPatch}

// storeTimeout bounds each store call of the handler.
const storeTimeout = 5 * time.Second

// Handler is the hub_idempotency middleware.
type Handler struct {
	// Methods are the request methods a key applies to (upper case).
	// Requests with other methods pass untouched, key or not. Default
	// POST and PATCH.
	Methods []string `json:"methods,omitempty"`
	// TTL is how long an answer is kept for replay after the first request
	// finished. Default 24h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// LockTTL is how long a key stays "in flight" at most: a retry during
	// the first request's run gets 409 until it finishes, or until LockTTL
	// passed if the gateway running it died. Keep it above the longest
	// request (the batch timeout, the proxy's timeouts). Default 2m.
	LockTTL caddy.Duration `json:"lock_ttl,omitempty"`
	// MaxKeyLength bounds a key, in bytes (longer: 400). Default 255.
	MaxKeyLength int `json:"max_key_length,omitempty"`
	// MaxSize bounds a kept answer's body, in bytes; a larger answer is
	// sent but not kept (a retry runs again). Default 1 MiB.
	MaxSize int64 `json:"max_size,omitempty"`
	// MaxBodySize bounds the request body read for the fingerprint, in
	// bytes (larger: 413). Default 1 MiB; hub_request_body usually
	// refuses larger bodies first.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// Require lists the routes where a request of one of Methods without
	// a key is refused (400 idempotency-key-missing).
	Require []hub.Route `json:"require,omitempty"`
	// NoStore lists the routes whose answers are never kept, key or not:
	// those that hand out a secret (a new API key, a token), which must
	// live nowhere but in the client's one answer. A key sent there is
	// ignored, and the request runs each time.
	NoStore []hub.Route `json:"no_store,omitempty"`
	// FailOpen runs a request with a key as if it had none when the store
	// cannot be reached. Default false: 503 idempotency-unavailable, since
	// the client asked not to have its write run twice.
	FailOpen bool `json:"fail_open,omitempty"`

	methods  map[string]bool
	store    hub.Store
	v6Bits   int
	fpKey    []byte
	log      *zap.Logger
	requests requestsMetric
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_idempotency",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults and takes the hub app's store.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	if err := h.compile(); err != nil {
		return err
	}
	h.requests = getMetrics()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.requests.CounterVec); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	appIface, err := ctx.App("hub")
	if err != nil {
		return fmt.Errorf("hub_idempotency needs the hub app: %w", err)
	}
	app := appIface.(*hub.App)
	h.store = app.Store()
	h.v6Bits = app.IPv6PrefixBits()
	h.fpKey = fingerprintKey(app.SharedSecret())
	return nil
}

// compile applies defaults and compiles the routes (no app needed: tests
// call it with their own store).
func (h *Handler) compile() error {
	if len(h.Methods) == 0 {
		h.Methods = DefaultMethods
	}
	h.methods = make(map[string]bool, len(h.Methods))
	for _, m := range h.Methods {
		rt := hub.Route{Methods: []string{m}, Path: "/"}
		if err := rt.Compile(); err != nil {
			return fmt.Errorf("hub_idempotency: method %q: %w", m, err)
		}
		h.methods[rt.Methods[0]] = true
	}
	if h.TTL <= 0 {
		h.TTL = caddy.Duration(DefaultTTL)
	}
	if h.LockTTL <= 0 {
		h.LockTTL = caddy.Duration(DefaultLockTTL)
	}
	if h.MaxKeyLength <= 0 {
		h.MaxKeyLength = DefaultMaxKeyLength
	}
	if h.MaxSize <= 0 {
		h.MaxSize = DefaultMaxSize
	}
	if h.MaxBodySize <= 0 {
		h.MaxBodySize = DefaultMaxBodySize
	}
	for _, rs := range [][]hub.Route{h.Require, h.NoStore} {
		for i := range rs {
			if err := rs[i].Compile(); err != nil {
				return fmt.Errorf("hub_idempotency: %w", err)
			}
		}
	}
	return nil
}

func matchAny(rs []hub.Route, r *http.Request) bool {
	for i := range rs {
		if rs[i].Match(r.Method, r.URL.Path) {
			return true
		}
	}
	return false
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.methods[r.Method] {
		return next.ServeHTTP(w, r)
	}
	key, present, err := keyOf(r.Header, h.MaxKeyLength)
	if err != nil {
		h.requests.inc(resultInvalid)
		hub.WriteProblem(w, r, problem.New(http.StatusBadRequest, "idempotency-key-invalid", "Invalid Idempotency-Key",
			"Idempotency-Key: "+err.Error()).With("max_length", h.MaxKeyLength))
		return nil
	}
	if !present {
		if matchAny(h.Require, r) {
			h.requests.inc(resultMissing)
			hub.WriteProblem(w, r, problem.New(http.StatusBadRequest, "idempotency-key-missing", "Idempotency-Key Required",
				fmt.Sprintf("%s %s needs an Idempotency-Key header (a quoted string, e.g. \"8e03978e-40d5-43e8-bc93-6894a57f9324\")", r.Method, r.URL.Path)))
			return nil
		}
		return next.ServeHTTP(w, r)
	}
	if b := hub.BatchOf(r); b != nil && b.Tx != "" {
		// An atomic batch's operation answers before the batch commits or
		// rolls back: its answer is not final, so it cannot be kept.
		h.requests.inc(resultInvalid)
		hub.WriteProblem(w, r, problem.New(http.StatusBadRequest, "idempotency-key-invalid", "Invalid Idempotency-Key",
			"an operation of an atomic batch cannot carry an Idempotency-Key (its answer is final only when the batch commits); put the key on the batch call"))
		return nil
	}
	if matchAny(h.NoStore, r) {
		h.requests.inc(resultNoStore)
		return next.ServeHTTP(w, r)
	}
	p := hub.PrincipalOf(r, h.v6Bits)
	if p.Kind == hub.PrincipalIP {
		// Anonymous callers share a client network: a key is no one's own
		// there, so it is not honoured (docs/idempotency.md).
		h.requests.inc(resultAnonymous)
		return next.ServeHTTP(w, r)
	}
	body, err := h.readBody(r)
	if errors.Is(err, errBodyTooLarge) {
		h.requests.inc(resultInvalid)
		hub.WriteProblem(w, r, problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			fmt.Sprintf("a request with an Idempotency-Key may carry at most %d bytes", h.MaxBodySize)))
		return nil
	}
	if err != nil {
		h.requests.inc(resultInvalid)
		hub.WriteProblem(w, r, problem.New(http.StatusBadRequest, "body-unreadable", "Malformed request body",
			"the request body could not be read"))
		return nil
	}
	fp := fingerprint(h.fpKey, r.Method, r.URL.Path, r.URL.RawQuery, r.Header, body)
	skey := storeKey(p, key)
	mine := &entry{State: stateInFlight, FP: fp, RequestID: hub.EnsureRequestID(w, r)}

	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		got, err := h.store.SetNX(ctx, skey, mine.encode(), time.Duration(h.LockTTL))
		var prev []byte
		if err == nil && !got {
			prev, err = h.store.Get(ctx, skey)
		}
		cancel()
		switch {
		case err != nil && errors.Is(err, hub.ErrNotFound) && attempt == 0:
			continue // the entry expired between the two calls: try once more
		case err != nil && errors.Is(err, hub.ErrNotFound):
			return h.inFlight(w, r)
		case err != nil:
			return h.unavailable(w, r, next, err)
		case got:
			return h.first(w, r, next, skey, mine)
		}
		e, derr := decodeEntry(prev)
		switch {
		case derr != nil:
			// Not ours to read (a foreign value): run without the key
			// rather than answer from it.
			h.log.Warn("undecodable idempotency entry", zap.Error(derr))
			return h.unavailable(w, r, next, derr)
		case e.FP != fp:
			h.requests.inc(resultMismatch)
			hub.WriteProblem(w, r, problem.New(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key Reused",
				"this Idempotency-Key was used for a different request (method, path, query or body); use a new key for a new request"))
			return nil
		case e.State != stateDone:
			return h.inFlight(w, r)
		}
		h.replay(w, r, e)
		return nil
	}
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads the request body for the fingerprint and puts it back.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.MaxBodySize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > h.MaxBodySize {
		return nil, errBodyTooLarge
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// first runs the request that holds the key, then keeps its answer or
// releases the key.
func (h *Handler) first(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, skey string, mine *entry) error {
	rec := newRecorder(w, h.MaxSize)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	defer func() {
		// reverse_proxy panics with http.ErrAbortHandler when the
		// upstream's body breaks: no complete answer, the key is released
		// now rather than after lock_ttl, and the panic goes on.
		if v := recover(); v != nil {
			h.requests.inc(resultNotStored)
			_ = h.store.Delete(ctx, skey)
			panic(v)
		}
	}()
	err := next.ServeHTTP(rec, r)
	status := hub.StatusFor(rec.status, err)
	if err == nil && rec.status != 0 && replayable(status) && !rec.overflow && !rec.cookie {
		done := &entry{State: stateDone, FP: mine.FP, RequestID: mine.RequestID, Status: status, Header: rec.header, Body: rec.body}
		serr := h.store.Set(ctx, skey, done.encode(), time.Duration(h.TTL))
		if serr == nil {
			h.requests.inc(resultStored)
			return nil
		}
		h.log.Warn("idempotency: answer not kept", zap.Error(serr))
	}
	h.requests.inc(resultNotStored)
	if derr := h.store.Delete(ctx, skey); derr != nil {
		h.log.Warn("idempotency: key not released (it expires after lock_ttl)", zap.Error(derr))
	}
	return err
}

// replay answers with the kept answer, byte for byte, marked as a replay.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, e *entry) {
	h.requests.inc(resultReplayed)
	hub.SetIdempotentReplay(r, e.RequestID)
	hdr := w.Header()
	for k, vs := range e.Header {
		hdr[k] = vs
	}
	hdr.Set(ReplayedHeader, "true")
	hdr.Set("Content-Length", strconv.Itoa(len(e.Body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
}

// inFlight answers a retry that arrives while the first request runs.
func (h *Handler) inFlight(w http.ResponseWriter, r *http.Request) error {
	h.requests.inc(resultInFlight)
	w.Header().Set("Retry-After", "1")
	hub.WriteProblem(w, r, problem.New(http.StatusConflict, "idempotency-key-in-use", "Idempotency-Key In Use",
		"a request with this Idempotency-Key is still being processed; retry when it has finished"))
	return nil
}

// unavailable handles a store that cannot be asked: 503, or the request
// runs without its key under fail_open.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, err error) error {
	h.requests.inc(resultUnavailable)
	h.log.Warn("idempotency store unavailable", zap.Error(err), zap.Bool("fail_open", h.FailOpen))
	if h.FailOpen {
		return next.ServeHTTP(w, r)
	}
	w.Header().Set("Retry-After", "1")
	hub.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "idempotency-unavailable", "Service Unavailable",
		"the Idempotency-Key store cannot be reached; retry later with the same key"))
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
