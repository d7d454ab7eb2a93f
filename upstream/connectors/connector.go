// Package connectors is the connector framework (docs/connectors.md):
// third-party integrations such as Slack and Silae, configured by
// administrators under /api/v1/admin/connectors, with their configuration
// encrypted at rest (Keyring), fed by domain events (the "connector"
// target of the events dispatcher) and by scheduled syncs (upstream/jobs).
//
// Each vendor is a Type registered in a Registry: it validates a
// configuration, names its write-only (secret) fields, the events and
// scheduled jobs it takes, the vendor's published rate limit, and builds a
// Connector. The framework wraps every call to a Connector with a timeout
// (30 s), a per-connector breaker (gobreaker), the rate limit, retries with
// backoff (syncs; event deliveries are retried by the dispatcher), and a
// per-connector lane so that one failing or hanging connector never delays
// another.
package connectors

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/netguard"
)

// Scheduled jobs a connector Type may take.
const (
	JobDaily   = "daily"   // every day at midnight
	JobWeekly  = "weekly"  // every Monday at midnight
	JobMonthly = "monthly" // on the 1st at midnight
	JobManual  = "manual"  // POST /api/v1/admin/connectors/{id}/run
)

// Env is what a connector may use: the database (read-only use, for
// exports and summaries), an HTTP client, the clock.
type Env struct {
	DB     *db.DB
	HTTP   *http.Client
	Now    func() time.Time
	Logger *slog.Logger
	// AllowHTTP accepts plain http:// vendor URLs (tests; CheckURL).
	AllowHTTP bool
	// AllowPrivate accepts loopback and private hosts (tests; CheckURL).
	AllowPrivate bool
	// Token returns a valid access token of an OAuth2 connector (Type.OAuth
	// set; nil otherwise): refreshed before it expires, or when it equals
	// stale (pass the token a call just saw refused with 401, else "").
	// One refresh runs at a time per connector across instances.
	Token func(ctx context.Context, stale string) (string, error)
}

// Run is one sync of a connector.
type Run struct {
	// Job is the scheduled job (JobDaily…) or JobManual.
	Job string
	// Key is the job's period ("2025-03", "2025-W10", "2025-03-01"), the
	// idempotency key of what the sync sends.
	Key string
	// Now is when the run started.
	Now time.Time
}

// Result counts what a sync did.
type Result struct {
	// Sent and Failed count items (messages, pointages exported).
	Sent, Failed int
}

// Connector is one configured integration.
type Connector interface {
	// Test authenticates against the vendor with the configuration (the
	// admin's "test connection") without side effects where the vendor
	// allows it.
	Test(ctx context.Context) error
	// Sync runs a scheduled (or manual) job; a job the connector does
	// not take returns a zero Result and nil.
	Sync(ctx context.Context, run Run) (Result, error)
	// HandleEvent acts on a domain event the Type subscribed to; an event
	// it chooses to ignore (a signalement that is not urgent) returns nil.
	HandleEvent(ctx context.Context, ev events.Stored) error
}

// Inbound is implemented by connectors that accept webhooks from their
// vendor at POST /api/v1/connectors/{id}/inbound.
type Inbound interface {
	// VerifyInbound checks the request's signature and timestamp against
	// body and returns the vendor's event id (for deduplication) and, for
	// a handshake, an answer to send back at once.
	VerifyInbound(h http.Header, body []byte, now time.Time) (eventID string, answer any, err error)
	// HandleInbound acts on a verified, first-seen inbound event.
	HandleInbound(ctx context.Context, body []byte) error
}

// Type is one vendor.
type Type struct {
	// Name is the type's id in the API ("slack", "silae").
	Name string
	// Secrets are the configuration fields that are write-only: never
	// returned by the API, logged or audited.
	Secrets []string
	// Events are the event types the connector receives.
	Events []string
	// Jobs are the scheduled jobs the connector takes.
	Jobs []string
	// Rate and Burst are the vendor's published rate limit, per connector.
	Rate  rate.Limit
	Burst int
	// Validate checks a whole configuration (after merging an update).
	Validate func(cfg map[string]any, env Env) error
	// New builds a connector from a validated configuration.
	New func(id string, cfg json.RawMessage, env Env) (Connector, error)
	// OAuth is set for vendors that authorize through OAuth2: the
	// connector is created by the connect flow (/api/v1/integrations/{name}/connect)
	// and its tokens are managed by the framework (Env.Token).
	OAuth *OAuth
}

// Registry holds the Types.
type Registry struct {
	mu    sync.RWMutex
	types map[string]Type
}

// NewRegistry returns a registry of ts.
func NewRegistry(ts ...Type) *Registry {
	r := &Registry{types: map[string]Type{}}
	for _, t := range ts {
		r.Register(t)
	}
	return r
}

// Register adds t (replacing a type of the same name).
func (r *Registry) Register(t Type) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types[t.Name] = t
}

// Get returns the type named name.
func (r *Registry) Get(name string) (Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return t, ok
}

// Names lists the registered types, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Errors a Connector returns to steer retries.

// RetryAfterError is a vendor's 429 (or 503) with a Retry-After: retried
// after After, not before.
type RetryAfterError struct {
	After time.Duration
	Msg   string
}

func (e *RetryAfterError) Error() string {
	return e.Msg + " (retry after " + e.After.String() + ")"
}

// PermanentError is a refusal that retrying cannot fix (a revoked token, a
// payload the vendor rejects): no retry, and it does not trip the breaker.
type PermanentError struct{ Msg string }

func (e *PermanentError) Error() string { return e.Msg }

// Permanent returns a PermanentError.
func Permanent(format string, args ...any) error {
	return &PermanentError{Msg: fmt.Sprintf(format, args...)}
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date);
// def when absent or unreadable, capped at max.
func ParseRetryAfter(v string, now time.Time, def, max time.Duration) time.Duration {
	d := def
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		d = 0
	}
	return min(d, max)
}

func isPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func retryAfter(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// nullTime scans an optional microsecond time.
func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := db.FromMicros(v.Int64)
	return &t
}

// CheckURL checks a vendor URL from a configuration: absolute https (or
// http when env.AllowHTTP), with a host, without user info, and (unless
// env.AllowPrivate) not a loopback, private or link-local IP literal nor a
// localhost name: the SSRF guard of upstream/netguard, which the default
// HTTP client applies again to every address it dials (names resolving
// to internal addresses, DNS rebinding). No DNS lookup here, so a
// configuration stays valid while a vendor's DNS hiccups. The error never
// repeats the URL (it may carry a token).
func CheckURL(field, raw string, env Env) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || (env.AllowHTTP && u.Scheme == "http")) {
		if env.AllowHTTP {
			return fmt.Errorf("%s must be an absolute http(s) URL", field)
		}
		return fmt.Errorf("%s must be an absolute https URL", field)
	}
	if err := (netguard.Guard{AllowPrivate: env.AllowPrivate}).CheckLiteral(u.Hostname()); err != nil {
		return fmt.Errorf("%s: %w (HUB_CONNECTOR_ALLOW_PRIVATE=true for local stand-ins)", field, netguard.ErrPrivate)
	}
	return nil
}

// String returns cfg[field] when it is a non-empty string.
func String(cfg map[string]any, field string) string {
	v, _ := cfg[field].(string)
	return v
}
