package hubaudit

import (
	"bufio"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// ServeHTTP records the request. The record is complete when the status
// is known, so it is journaled (and fsync'd) when the response header is
// about to be sent, which waits for it: a client never gets a response
// whose record could be lost. When a later handler returns an error
// instead, handle_errors answers after we return, so the record (with the
// error's status) is made durable before returning.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := h.now()
	rid := hub.EnsureRequestID(w, r)
	if !h.waitReady(r) {
		h.metrics.records.WithLabelValues(resultRefused).Inc()
		w.Header().Set("Retry-After", "5")
		hub.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "audit-unavailable", "Audit trail unavailable",
			"the audit journal is not open yet; retry later"))
		return nil
	}
	if h.journal.DiskBytes() >= h.MaxJournalSize {
		if h.onFull == OnFullRefuseSensitive && h.sensitiveRoute(r) {
			h.metrics.records.WithLabelValues(resultRefused).Inc()
			h.loud("audit journal full: refusing a sensitive request", r)
			w.Header().Set("Retry-After", "30")
			hub.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "audit-unavailable", "Audit trail unavailable",
				"this request cannot be recorded in the audit trail right now; retry later"))
			return nil
		}
		h.metrics.records.WithLabelValues(resultDropped).Inc()
		h.loud("audit journal full: serving a request WITHOUT an audit record", r)
		return next.ServeHTTP(w, r)
	}
	aw := &auditWriter{
		ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		h:                     h,
		req:                   r,
		start:                 start,
		rec: auditchain.Record{
			RequestID:       rid,
			ClientRequestID: hub.ClientRequestID(r),
			Timestamp:       start,
			HTTPMethod:      r.Method,
			Endpoint:        h.routes.Of(r),
			Path:            boundPath(r.URL.Path),
			UserAgent:       r.Header.Get("User-Agent"),
		},
	}
	if b := hub.BatchOf(r); b != nil {
		aw.rec.BatchRequestID = b.RequestID // an operation of a batch (hub_batch)
	}
	// Bodies are hashed with a key (never a plain SHA-256, which a guess
	// of a small body reverses), and not at all where they carry
	// credentials (issue 10).
	if r.Body != nil && r.Body != http.NoBody && h.bodyKey != nil && !h.noBodyHashRoute(r) {
		aw.body = &hashingBody{rc: r.Body, key: h.bodyKey, h: auditchain.NewBodyHasher(h.bodyKey), length: r.ContentLength}
		r.Body = aw.body
	}
	defer func() {
		// Caddy does not recover panics (net/http aborts the connection),
		// and reverse_proxy panics with http.ErrAbortHandler when the
		// upstream's body breaks, possibly while an inner transformer is
		// still buffering: the upstream may have acted, so the request is
		// recorded (500: no complete answer) before the panic goes on.
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				// Re-panicking loses the original stack in net/http's log.
				h.log.Error("handler panicked", zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
			}
			if !aw.recorded {
				aw.record(http.StatusInternalServerError)
			}
			panic(v)
		}
	}()
	err := next.ServeHTTP(aw, r)
	if !aw.recorded {
		// Nothing written: the error's status, which handle_errors will
		// send, or net/http's 200.
		aw.record(hub.StatusFor(0, err))
		if aw.failed {
			// handle_errors must not answer the inner error instead.
			aw.unavailable()
			return nil
		}
	}
	if aw.failed {
		return nil // the 503 is sent; the inner error has no one to reach
	}
	return err
}

// boundPath keeps at most 1024 bytes of a path.
func boundPath(p string) string {
	if len(p) > 1024 {
		return p[:1024]
	}
	return p
}

// record completes, journals and waits for the record of status. When the
// record cannot be made durable it sets aw.failed: the caller then answers
// 503 instead of status.
func (aw *auditWriter) record(status int) {
	aw.recorded = true
	h, r, rec := aw.h, aw.req, &aw.rec
	rec.EventID = auditchain.NewEventID(aw.start)
	rec.StatusCode = status
	rec.LatencyMS = float64(h.now().Sub(aw.start).Microseconds()) / 1000
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok {
		rec.IPAddress = ip
	}
	if id := hub.IdentityOf(r); id != nil {
		rec.UserID, rec.APIKeyID, rec.OAuthClientID, rec.AuthMethod = id.Subject, id.KeyID, id.ClientID, id.Method
	}
	// A stored answer replayed by hub_idempotency (docs/idempotency.md).
	rec.IdempotentReplayOf = hub.IdempotentReplayOf(r)
	hdr := aw.Header()
	loc := ""
	if status == http.StatusCreated {
		loc = hdr.Get("Location")
	}
	rec.Action, rec.ResourceType, rec.ResourceID = describe(h.routes, rec.HTTPMethod, rec.Endpoint, rec.Path, loc)
	// A GraphQL request: what hub_graphql read of its operation.
	if op := hub.GraphQLOperationOf(r); op != nil {
		if b, err := json.Marshal(op); err == nil && len(b) <= auditchain.MaxGraphQL {
			rec.GraphQL = b
		}
	}
	if v := hdr.Get(auditchain.ChangesHeader); v != "" {
		if ch, err := auditchain.DecodeChanges(v); err == nil {
			rec.Changes = ch
		} else {
			h.log.Warn("ignoring a malformed changes report from the upstream", zap.String("request_id", rec.RequestID))
		}
	}
	if v := hdr.Get(auditchain.AccountHeader); v != "" && (h.accepted != nil || h.secret != nil) {
		if id, ok := h.openAccount(v); ok {
			rec.AttemptedUserID = id
		} else {
			h.log.Warn("ignoring a malformed login account report from the upstream", zap.String("request_id", rec.RequestID))
		}
	}
	// The reports are for the audit trail only, never for the client.
	hdr.Del(auditchain.ChangesHeader)
	hdr.Del(auditchain.AccountHeader)
	if aw.body != nil {
		rec.RequestBodyHash = aw.body.sum()
	}
	wait, err := h.journal.Append(rec)
	if err == nil {
		err = wait()
	}
	if err != nil {
		// Nothing is acknowledged without a durable record: the answer
		// becomes a 503 (the upstream may have acted; the client learns
		// that the outcome is not confirmed), counted and logged loudly.
		aw.failed = true
		h.metrics.records.WithLabelValues(resultRefused).Inc()
		h.log.Error("AUDIT RECORD NOT DURABLE: answering 503 instead",
			zap.String("request_id", rec.RequestID), zap.String("action", rec.Action),
			zap.Int("status", status), zap.Error(err))
		return
	}
	h.metrics.journaled.Inc()
	if h.LogStream {
		h.stream.Info("audit",
			zap.String("event_id", rec.EventID), zap.String("request_id", rec.RequestID),
			zap.String("client_request_id", rec.ClientRequestID), zap.String("attempted_user_id", rec.AttemptedUserID),
			zap.Time("timestamp", rec.Timestamp), zap.String("user_id", rec.UserID),
			zap.String("api_key_id", rec.APIKeyID), zap.String("oauth_client_id", rec.OAuthClientID),
			zap.String("action", rec.Action), zap.String("resource_type", rec.ResourceType),
			zap.String("resource_id", rec.ResourceID), zap.String("http_method", rec.HTTPMethod),
			zap.String("endpoint", rec.Endpoint), zap.String("path", rec.Path),
			zap.Int("status_code", rec.StatusCode), zap.Float64("latency_ms", rec.LatencyMS),
			zap.String("ip_address", rec.IPAddress), zap.String("user_agent", rec.UserAgent),
			zap.String("request_body_hash", rec.RequestBodyHash), zap.Any("changes", rec.Changes),
			zap.String("gateway_id", rec.GatewayID), zap.Int64("seq", rec.Seq), zap.String("hash", rec.Hash))
	}
}

// auditWriter holds the response header back until the record is durable.
type auditWriter struct {
	*caddyhttp.ResponseWriterWrapper
	h        *Handler
	req      *http.Request
	start    time.Time
	rec      auditchain.Record
	body     *hashingBody
	recorded bool
	// failed: the record could not be made durable; the client gets a 503
	// problem and nothing the inner handlers write.
	failed bool
}

// unavailable answers 503 problem+json on the real writer: the request was
// not recorded, so its outcome is not acknowledged.
func (aw *auditWriter) unavailable() {
	w := aw.ResponseWriterWrapper.ResponseWriter
	hdr := w.Header()
	for k := range hdr {
		if k != hub.RequestIDHeader {
			delete(hdr, k)
		}
	}
	hdr.Set("Retry-After", "30")
	hub.WriteProblem(w, aw.req, problem.New(http.StatusServiceUnavailable, "audit-unavailable", "Audit trail unavailable",
		"this request could not be recorded in the audit trail, so its outcome is not confirmed; retry later"))
	// Sent now, whole (it has a Content-Length): the inner handler's
	// later writes fail, and a proxy then aborts the connection.
	_ = http.NewResponseController(w).Flush()
}

// WriteHeader journals the record on the final status, then sends it.
// Informational 1xx answers (100 Continue, 103 Early Hints) pass through.
func (aw *auditWriter) WriteHeader(code int) {
	if aw.failed {
		return
	}
	if !aw.recorded && (code >= 200 || code == http.StatusSwitchingProtocols) {
		aw.record(code)
		if aw.failed {
			aw.unavailable()
			return
		}
	}
	aw.ResponseWriterWrapper.WriteHeader(code)
}

// Write sends an implicit 200 through WriteHeader first. After a failed
// record (a 503 was sent and flushed instead) the inner handler's body is
// refused, so a proxy stops copying an upstream body nobody will read.
func (aw *auditWriter) Write(b []byte) (int, error) {
	if !aw.recorded {
		aw.WriteHeader(http.StatusOK)
	}
	if aw.failed {
		return 0, errNotRecorded
	}
	return aw.ResponseWriterWrapper.Write(b)
}

// ReadFrom keeps io.Copy fast without skipping the record.
func (aw *auditWriter) ReadFrom(r io.Reader) (int64, error) {
	if !aw.recorded {
		aw.WriteHeader(http.StatusOK)
	}
	if aw.failed {
		return 0, errNotRecorded
	}
	return aw.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError records before a flush would send the header.
func (aw *auditWriter) FlushError() error {
	if !aw.recorded {
		aw.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(aw.ResponseWriterWrapper.ResponseWriter).Flush()
}

// Hijack records 101 before the connection leaves HTTP (WebSocket
// upgrades that did not call WriteHeader); an upgrade that cannot be
// recorded is refused with a 503.
func (aw *auditWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !aw.recorded {
		aw.record(http.StatusSwitchingProtocols)
		if aw.failed {
			aw.unavailable()
		}
	}
	if aw.failed {
		return nil, nil, errNotRecorded
	}
	return http.NewResponseController(aw.ResponseWriterWrapper.ResponseWriter).Hijack()
}

// errNotRecorded refuses the writes and the hijack of a request whose
// record could not be made durable.
var errNotRecorded = errors.New("hub_audit: the request could not be recorded")

// hashingBody hashes the request body as the upstream reads it: the body
// is never stored, and costs no extra buffering.
type hashingBody struct {
	rc     io.ReadCloser
	key    []byte
	mu     sync.Mutex // the proxy's transport reads in its own goroutine
	h      hash.Hash
	n      int64
	length int64 // Content-Length, -1 when unknown
	eof    bool
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.h.Write(p[:n])
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
	}
	b.mu.Unlock()
	return n, err
}

func (b *hashingBody) Close() error { return b.rc.Close() }

// sum is the keyed hash of the body (auditchain.FormatBodyHash) if it was read
// to the end (EOF, or every byte of its Content-Length), else "" — an
// unread body (a 401) has no hash rather than a wrong one. An empty body
// has none either.
func (b *hashingBody) sum() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 || !(b.eof || (b.length >= 0 && b.n == b.length)) {
		return ""
	}
	return auditchain.FormatBodyHash(b.key, b.h.Sum(nil))
}

// rateLimitedLog lets one loud log line through every 10 s.
type rateLimitedLog struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (h *Handler) loud(msg string, r *http.Request) {
	l := h.lastLoud
	l.mu.Lock()
	now := h.now()
	if now.Sub(l.last) < 10*time.Second {
		l.skipped++
		l.mu.Unlock()
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	l.mu.Unlock()
	h.log.Error(strings.ToUpper(msg[:1])+msg[1:],
		zap.String("journal", h.Journal), zap.Int64("max_journal_size", h.MaxJournalSize),
		zap.Int64("backlog", h.journal.Backlog()), zap.Int("similar_since_last_log", skipped),
		zap.String("method", r.Method), zap.String("endpoint", h.routes.Of(r)))
}

// openAccount opens an account report with the shared secret or, during a
// rollover, the accepted one (the upstream seals with its own current
// secret, which may be either).
func (h *Handler) openAccount(v string) (string, bool) {
	keys := h.accepted
	if keys == nil {
		keys = [][]byte{h.secret}
	}
	for _, k := range keys {
		if id, err := auditchain.OpenAccount(k, v); err == nil {
			return id, true
		}
	}
	return "", false
}
