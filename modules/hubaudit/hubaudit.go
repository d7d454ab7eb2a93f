// Package hubaudit is the hub_audit HTTP handler: one hash-chained audit
// record per request, whatever its outcome, made durable in a local
// append-only journal before the response is sent, and shipped in batches
// to the upstream's audit store (POST /internal/audit), idempotently.
package hubaudit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	DefaultMaxJournalSize = 1 << 30
	DefaultSegmentSize    = 16 << 20
	DefaultBatchSize      = 500
	DefaultShipInterval   = 200 * time.Millisecond
	// OnFullRefuseSensitive answers sensitive requests 503 while the
	// journal is full and serves the others without a record.
	OnFullRefuseSensitive = "refuse_sensitive"
	// OnFullDrop serves every request, without a record, while full.
	OnFullDrop = "drop"
)

// DefaultSensitive are the routes refused while the journal is full when
// no sensitive route is configured: every write, admin reads and the
// authentication endpoints.
var DefaultSensitive = []*Route{
	{Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, Path: "/*"},
	{Path: "/api/v1/admin/*"},
	{Path: "/api/v2/admin/*"},
	{Path: "/api/auth/*"},
}

// DefaultNoBodyHash are the routes whose request bodies carry credentials
// (passwords, client secrets, tokens, authorization codes) and so get no
// request_body_hash at all, even keyed, when none is configured. The
// upstream's own resources that carry passwords are its vocabulary: the
// default Caddyfile lists Hub Chantier's (its user accounts).
var DefaultNoBodyHash = []*Route{
	{Path: "/api/auth/login"},
	{Path: "/oauth/*"},
	{Path: "/internal/*"},
}

// Handler writes the audit record of every request it wraps. It must be the
// outermost policy (after hub_metrics) so it sees the 401s, 429s and 304s of
// the others.
type Handler struct {
	// Journal is the directory of the local journal, one per gateway
	// process. Default: hub_audit in Caddy's data directory
	// ($XDG_DATA_HOME/caddy/hub_audit).
	Journal string `json:"journal,omitempty"`
	// AllowJournalChange lets a reload move the journal to another
	// directory. Without it, a config whose journal directory is new to a
	// process that already runs a journal elsewhere fails to start: the
	// new directory would begin a second chain under a new gateway id
	// (a reload from a shell without HUB_AUDIT_DIR did that). Default false.
	AllowJournalChange bool `json:"allow_journal_change,omitempty"`
	// MaxJournalSize bounds the journal on disk, in bytes; when reached
	// (the audit store has been unreachable for long), OnFull applies.
	// Default 1 GiB.
	MaxJournalSize int64 `json:"max_journal_size,omitempty"`
	// SegmentSize is the size at which the journal starts a new segment
	// file, in bytes; shipped segments are deleted. Default 16 MiB.
	SegmentSize int64 `json:"segment_size,omitempty"`
	// OnFull is the policy while the journal is full: refuse_sensitive
	// (default: 503 on Sensitive routes, others served and counted as
	// dropped) or drop (everything served, records dropped and counted).
	OnFull string `json:"on_full,omitempty"`
	// Sensitive are the routes refused while full under refuse_sensitive.
	// Default: POST/PUT/PATCH/DELETE anywhere, /api/v1/admin/*,
	// /api/v2/admin/*, /api/auth/*.
	Sensitive []*Route `json:"sensitive,omitempty"`
	// NoBodyHash are the routes whose request bodies are not hashed at
	// all because they carry credentials. Giving any replaces the
	// defaults: * /api/auth/login, * /oauth/*, * /internal/*.
	// Elsewhere request_body_hash is HMAC-SHA256 under a key derived from
	// the hub app's shared secret (never a plain SHA-256).
	NoBodyHash []*Route `json:"no_body_hash,omitempty"`
	// BatchSize is the most records shipped in one request. Default 500.
	BatchSize int `json:"batch_size,omitempty"`
	// ShipInterval is the pause after a short batch, letting records
	// accumulate. Default 200ms.
	ShipInterval caddy.Duration `json:"ship_interval,omitempty"`
	// LogStream also writes every record as a structured log entry on the
	// logger "hub.audit" (for a SOC). Default off.
	LogStream bool `json:"log_stream,omitempty"`

	journal   *Journal
	poolKey   string
	ready     chan struct{} // closed once journal is open (at config start)
	onFull    string
	sensitive []*Route
	noHash    []*Route
	secret    []byte   // the hub app's shared secret (keys body hashes)
	accepted  [][]byte // the secrets account reports may be sealed with
	bodyKey   []byte   // key of request_body_hash; nil: no body hash
	log       *zap.Logger
	routes    *hub.Routes // the hub app's vocabulary; nil: hub.DefaultRoutes
	stream    *zap.Logger
	metrics   *metrics
	now       func() time.Time
	lastLoud  *rateLimitedLog
}

// Route is a method set and path pattern (hub.Route, in JSON "methods"
// and "path"): methods in any case, none or "*" for all, GET also matches
// HEAD.
type Route = hub.Route

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_audit",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision prepares the journal and its shipper. With the hub app, they
// are opened (or shared, across reloads) when the config starts, so
// `hubgate validate` opens no journal, takes no lock and writes nothing;
// without it, now. It never touches the network.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	h.stream = caddy.Log().Named("hub.audit")
	h.now = time.Now
	h.metrics = getMetrics()
	h.lastLoud = &rateLimitedLog{}
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.metrics.collectors()...); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	repl := caddy.NewReplacer()
	h.Journal = repl.ReplaceKnown(h.Journal, "")
	if h.Journal == "" {
		h.Journal = filepath.Join(caddy.AppDataDir(), "hub_audit")
	}
	if h.MaxJournalSize <= 0 {
		h.MaxJournalSize = DefaultMaxJournalSize
	}
	if h.SegmentSize <= 0 {
		h.SegmentSize = DefaultSegmentSize
	}
	if h.BatchSize <= 0 {
		h.BatchSize = DefaultBatchSize
	}
	if h.ShipInterval <= 0 {
		h.ShipInterval = caddy.Duration(DefaultShipInterval)
	}
	h.onFull = h.OnFull
	if h.onFull == "" {
		h.onFull = OnFullRefuseSensitive
	}
	h.sensitive = h.Sensitive
	if len(h.sensitive) == 0 {
		h.sensitive = DefaultSensitive
	}
	for i, r := range h.sensitive {
		if err := r.Compile(); err != nil {
			return fmt.Errorf("sensitive route %d: %w", i, err)
		}
	}

	h.noHash = h.NoBodyHash
	if len(h.noHash) == 0 {
		h.noHash = DefaultNoBodyHash
	}
	for i, r := range h.noHash {
		if err := r.Compile(); err != nil {
			return fmt.Errorf("no_body_hash route %d: %w", i, err)
		}
	}

	var sinkCfg *HTTPSink
	if appIface, err := ctx.App("hub"); err == nil {
		app := appIface.(*hub.App)
		sinkCfg = &HTTPSink{Client: app.Internal(), Secret: string(app.SharedSecret())}
		h.secret = app.SharedSecret()
		h.accepted = app.AcceptedSecrets()
		h.routes = app.Routes
		h.bodyKey = auditchain.BodyKey(h.secret)
	} else {
		h.log.Warn("no hub app: audit records are journaled but not shipped, and bodies are not hashed", zap.Error(err))
	}
	h.ready = make(chan struct{})
	// Refused here, not at start: a config that fails while its apps
	// start has already begun serving, and stopping it disturbs the
	// connections of the running one.
	if err := checkJournalChange(h.Journal, h.AllowJournalChange); err != nil {
		return err
	}
	open := func() error {
		p, err := acquire(h.Journal, h.SegmentSize, h.BatchSize, time.Duration(h.ShipInterval), sinkCfg, h.metrics, caddy.Log().Named("hub_audit"))
		if err != nil {
			return err
		}
		h.journal, h.poolKey = p.journal, h.Journal
		close(h.ready)
		return nil
	}
	if app, ok := hubApp(ctx); ok {
		app.OnStart(open)
		app.RegisterHealthCheck("journal", h.health)
		return nil
	}
	return open()
}

// health is the journal's check for hub_health: open, acknowledging
// records (no failed write or fsync), and not full.
func (h *Handler) health(context.Context) error {
	select {
	case <-h.ready:
	default:
		return errors.New("audit journal not open yet")
	}
	if err := h.journal.Err(); err != nil {
		return err
	}
	if h.journal.DiskBytes() >= h.MaxJournalSize {
		return fmt.Errorf("audit journal full (%d bytes): the audit store has been unreachable; on_full %s applies", h.journal.DiskBytes(), h.onFull)
	}
	return nil
}

// hubApp returns the config's hub app, if it has one.
func hubApp(ctx caddy.Context) (*hub.App, bool) {
	v, err := ctx.AppIfConfigured("hub")
	if err != nil {
		return nil, false
	}
	a, ok := v.(*hub.App)
	return a, ok
}

// readyWait bounds how long a request waits for the journal of a config
// whose apps are still starting (Caddy starts them one by one; the server
// may take requests before the hub app opened the journal).
const readyWait = 10 * time.Second

// waitReady reports whether the journal is open, waiting up to readyWait.
func (h *Handler) waitReady(r *http.Request) bool {
	if h.ready == nil { // built around an open journal (tests, benchmarks)
		return h.journal != nil
	}
	select {
	case <-h.ready:
		return true
	default:
	}
	t := time.NewTimer(readyWait)
	defer t.Stop()
	select {
	case <-h.ready:
		return true
	case <-t.C:
	case <-r.Context().Done():
	}
	return false
}

// checkJournalChange refuses a journal directory new to a process whose
// running config journals elsewhere, unless allowed.
func checkJournalChange(dir string, allow bool) error {
	if allow {
		return nil
	}
	var running []string
	known := false
	journalPool.Range(func(k, _ any) bool {
		if k.(string) == dir {
			known = true
			return false
		}
		running = append(running, k.(string))
		return true
	})
	if known || len(running) == 0 {
		return nil
	}
	return fmt.Errorf("hub_audit: journal %s would replace the running %s: a new directory starts a second chain "+
		"under a new gateway id; reload with the running environment (make reload reads data/hubgate.env, systemd "+
		"its EnvironmentFile), or set allow_journal_change to move it on purpose", dir, strings.Join(running, ", "))
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.onFull != OnFullRefuseSensitive && h.onFull != OnFullDrop {
		return fmt.Errorf("hub_audit: on_full must be %s or %s, not %q", OnFullRefuseSensitive, OnFullDrop, h.onFull)
	}
	if h.SegmentSize < 4096 || h.SegmentSize > h.MaxJournalSize {
		return fmt.Errorf("hub_audit: segment_size %d must be at least 4096 and at most max_journal_size", h.SegmentSize)
	}
	return nil
}

// Cleanup releases this config's reference to the journal.
func (h *Handler) Cleanup() error {
	if h.poolKey != "" {
		return release(h.poolKey)
	}
	return nil
}

// sensitiveRoute reports whether r is refused while the journal is full.
func (h *Handler) sensitiveRoute(r *http.Request) bool {
	for _, s := range h.sensitive {
		if s.Match(r.Method, r.URL.Path) {
			return true
		}
	}
	return false
}

// noBodyHashRoute reports whether r's body carries credentials and gets no
// hash at all.
func (h *Handler) noBodyHashRoute(r *http.Request) bool {
	for _, s := range h.noHash {
		if s.Match(r.Method, r.URL.Path) {
			return true
		}
	}
	return false
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
