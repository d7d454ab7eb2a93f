// Package server assembles the Hub Chantier HTTP service: the domain API,
// identity (login, API keys, JWKS, internal gateway endpoints) and the
// middleware that accepts /api/* only with a valid gateway assertion.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hubchantier/hubgate/upstream/anomaly"
	"github.com/hubchantier/hubgate/upstream/audit"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/batchtx"
	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/connectors/dropbox"
	"github.com/hubchantier/hubgate/upstream/connectors/silae"
	"github.com/hubchantier/hubgate/upstream/connectors/slack"
	"github.com/hubchantier/hubgate/upstream/console"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/domain"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/graphql"
	"github.com/hubchantier/hubgate/upstream/httpx"
	"github.com/hubchantier/hubgate/upstream/jobs"
	"github.com/hubchantier/hubgate/upstream/metrics"
	"github.com/hubchantier/hubgate/upstream/oauth"
	"github.com/hubchantier/hubgate/upstream/webhooks"
)

// MinSecretLen is the shortest accepted HUB_GATEWAY_SECRET, in bytes.
const MinSecretLen = 32

// Config configures the service.
type Config struct {
	// GatewaySecret is HUB_GATEWAY_SECRET, shared with the gateway: it
	// verifies identity assertions and authenticates /internal/* calls.
	GatewaySecret []byte
	// AcceptSecret is HUB_GATEWAY_SECRET_ACCEPT: during a rollover of the
	// shared secret, the other secret (the next one, then the previous
	// one), accepted on assertions and internal calls, never used to sign
	// or to derive keys (docs/deployment.md). Empty: none.
	AcceptSecret []byte
	// Issuer and Audience are the iss/aud of the JWTs this service signs.
	Issuer, Audience string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BcryptCost overrides the password hashing cost (tests lower it).
	BcryptCost int
	// PublicURL is HUB_PUBLIC_URL, the gateway's external base URL: the
	// OAuth2 metadata's endpoints (docs/oauth2.md). Empty: no metadata.
	PublicURL string
	// Metrics, when set, counts and times every request by route pattern
	// (upstream/metrics); its /metrics is served on its own listener.
	Metrics *metrics.Metrics
	// LoginThrottle configures the per-account slowdown of password checks
	// (docs/auth.md); zero values take the defaults.
	LoginThrottle auth.LoginThrottleOptions
	// Webhooks configures /api/v1/webhooks and their deliveries
	// (docs/webhooks.md); zero values take the defaults.
	Webhooks webhooks.Options
	// Events configures the event dispatcher (docs/events.md).
	Events events.Options
	// Dispatch runs the event dispatcher until New's ctx ends (serve sets
	// it; tests that only need the API leave it off).
	Dispatch bool
	// GraphQLIntrospection enables introspection and the GraphiQL page of
	// /graphql (HUB_GRAPHQL_INTROSPECTION; docs/graphql.md).
	GraphQLIntrospection bool
	// ConsoleProviders are the console's external sign-in providers
	// (Google, GitHub; docs/console.md); none: password only.
	ConsoleProviders []console.Provider
	// DefaultRateLimit is the gateway's per-key default rate limit
	// (HUB_RATE_LIMIT, read by both processes): the console's usage page
	// shows what is left of it. "" means the shipped default.
	DefaultRateLimit string
	// UserRateLimit is the gateway's per-user quota (HUB_USER_RATE_LIMIT),
	// shown the same way. "" means the shipped default.
	UserRateLimit string
	// ConnectorKeys is HUB_CONNECTOR_KEYS (docs/connectors.md); nil:
	// connectors are disabled (the admin API answers 503).
	ConnectorKeys *connectors.Keyring
	// Connectors configures the connector framework.
	Connectors connectors.Options
	// Jobs configures the scheduler; Schedule runs it until New's ctx
	// ends (serve sets it).
	Jobs     jobs.Options
	Schedule bool
}

// New builds the service's handler.
func New(ctx context.Context, cfg Config, d *db.DB) (http.Handler, *auth.Service, error) {
	if len(cfg.GatewaySecret) < MinSecretLen {
		return nil, nil, errors.New("HUB_GATEWAY_SECRET must be at least 32 bytes")
	}
	if len(cfg.AcceptSecret) > 0 && len(cfg.AcceptSecret) < MinSecretLen {
		return nil, nil, errors.New("HUB_GATEWAY_SECRET_ACCEPT must be at least 32 bytes when set")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := auth.New(ctx, d, auth.Options{
		Issuer:        cfg.Issuer,
		Audience:      cfg.Audience,
		GatewaySecret: cfg.GatewaySecret,
		AcceptSecret:  cfg.AcceptSecret,
		Now:           cfg.Now,
		BcryptCost:    cfg.BcryptCost,
		LoginThrottle: cfg.LoginThrottle,
	})
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	a.Register(mux)
	o := oauth.New(d, a, oauth.Options{Now: cfg.Now, Logger: cfg.Logger, PublicURL: cfg.PublicURL,
		CSRFKey: deriveKey(cfg.GatewaySecret, "oauth-csrf")})
	o.Register(mux)
	dom := domain.New(d, deriveKey(cfg.GatewaySecret, "cursor"))
	dom.Register(mux)
	// GraphQL (docs/graphql.md): its resolvers run the REST routes of mux.
	gql, err := graphql.New(mux, dom, graphql.Options{Introspection: cfg.GraphQLIntrospection})
	if err != nil {
		return nil, nil, err
	}
	gql.Register(mux)
	anomaly.New(d, cfg.GatewaySecret, deriveKey(cfg.GatewaySecret, "cursor"), cfg.Now).AcceptSecret(cfg.AcceptSecret).Register(mux)
	au := audit.New(d, deriveKey(cfg.GatewaySecret, "audit-cursor"))
	au.Register(mux, cfg.GatewaySecret, cfg.AcceptSecret)
	// Outbound webhooks (docs/webhooks.md): the API, and the dispatcher's
	// "webhook" target; the dispatcher fans the outbox out (docs/events.md).
	if cfg.Webhooks.Logger == nil {
		cfg.Webhooks.Logger = cfg.Logger
	}
	if len(cfg.AcceptSecret) > 0 {
		cfg.Webhooks.OpenKeys = append(cfg.Webhooks.OpenKeys, deriveKey(cfg.AcceptSecret, "webhook-secrets"))
	}
	hooks, err := webhooks.New(d, deriveKey(cfg.GatewaySecret, "webhook-secrets"), cfg.Webhooks)
	if err != nil {
		return nil, nil, err
	}
	hooks.Register(mux)
	// The developer console (docs/console.md): pages over the same services.
	console.New(console.Deps{Auth: a, OAuth: o, Audit: au, Anomalies: anomaly.NewStore(d, cfg.Now), Webhooks: hooks,
		GraphiQL: cfg.GraphQLIntrospection, DefaultRateLimit: cfg.DefaultRateLimit, UserRateLimit: cfg.UserRateLimit,
		Providers: cfg.ConsoleProviders, PublicURL: cfg.PublicURL, GatewaySecret: cfg.GatewaySecret, Now: cfg.Now, Logger: cfg.Logger}).Register(mux)
	if len(cfg.AcceptSecret) > 0 {
		// Rollover step 2: secrets sealed under the old key move to the
		// new one, so step 3 (dropping the old secret) loses none.
		if n, err := hooks.Reseal(ctx); err != nil {
			cfg.Logger.Warn("webhook secrets not re-encrypted", "error", err.Error())
		} else if n > 0 {
			cfg.Logger.Info("webhook secrets re-encrypted under the current key", "webhooks", n)
		}
	}
	// Connectors (docs/connectors.md): the admin API, the inbound
	// endpoint, the dispatcher's "connector" target and the scheduled jobs.
	if cfg.Connectors.Logger == nil {
		cfg.Connectors.Logger = cfg.Logger
	}
	if cfg.Connectors.Now == nil {
		cfg.Connectors.Now = cfg.Now
	}
	if cfg.Connectors.PublicURL == "" {
		cfg.Connectors.PublicURL = cfg.PublicURL // OAuth2 redirect URIs
	}
	conns := connectors.New(d, cfg.ConnectorKeys, connectors.NewRegistry(slack.Type, silae.Type,
		dropbox.NewType(dropbox.DirContent(cfg.Connectors.DocumentsDir))), cfg.Connectors)
	conns.Register(mux, ctx)
	if cfg.ConnectorKeys != nil {
		// Key rotation: configurations sealed under an older key move to
		// the current one at every start.
		if n, err := conns.Reencrypt(ctx); err != nil {
			cfg.Logger.Warn("connector configurations not all re-encrypted", "error", err.Error())
		} else if n > 0 {
			cfg.Logger.Info("connector configurations re-encrypted under the current key", "connectors", n)
		}
	}
	if cfg.Dispatch {
		if cfg.Events.Logger == nil {
			cfg.Events.Logger = cfg.Logger
		}
		disp := events.NewDispatcher(d, cfg.Events)
		disp.Register(hooks)
		disp.Register(conns)
		go disp.Run(ctx)
	}
	if cfg.Schedule {
		if cfg.Jobs.Logger == nil {
			cfg.Jobs.Logger = cfg.Logger
		}
		if cfg.Jobs.Now == nil {
			cfg.Jobs.Now = cfg.Now
		}
		go jobs.New(d, cfg.Jobs, ScheduledJobs(a, conns)...).Run(ctx)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := d.PingContext(r.Context()); err != nil {
			httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// Principals runs on every authenticated /api/* request: it loads the
	// caller's current role and state (one primary-key lookup), so no
	// handler trusts the role of a token or of the gateway's assertion.
	// Atomic batches (issue 14): Bind sits outside Principals so that the
	// caller's role is read inside the batch's transaction too (on SQLite
	// the transaction holds the only write lock).
	txs := batchtx.New(d, cfg.GatewaySecret, cfg.Logger).AcceptSecret(cfg.AcceptSecret)
	txs.Register(mux)
	routed := problemMux(mux)
	if cfg.Metrics != nil {
		routed = metrics.Inner(routed)
	}
	var h http.Handler = httpx.RequireAssertionAny([][]byte{cfg.GatewaySecret, cfg.AcceptSecret}, cfg.Now, txs.Bind(a.Principals(routed)))
	h = logRequests(cfg.Logger, h)
	if cfg.Metrics != nil {
		h = cfg.Metrics.Outer(h)
	}
	return h, a, nil
}

// deriveKey derives a purpose-specific key from the shared secret, so the
// cursor key never equals the assertion key.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("hubchantier/" + purpose))
	return m.Sum(nil)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs method, path (never the query, which may hold cursors),
// status, latency and the gateway's request id. Bodies and credentials are
// never logged.
func logRequests(l *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		l.Info("request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", sw.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"request_id", r.Header.Get("X-Request-Id"))
	})
}

// ScheduledJobs are the periodic jobs of the service (docs/connectors.md,
// "Scheduler"), each run once per period across instances.
func ScheduledJobs(a *auth.Service, conns *connectors.Service) []jobs.Job {
	connJob := func(job string) func(ctx context.Context, key string, now time.Time) error {
		return func(ctx context.Context, key string, now time.Time) error { return conns.RunJob(ctx, job, key, now) }
	}
	return []jobs.Job{
		{Name: "connectors-daily", Schedule: jobs.Daily, Run: func(ctx context.Context, key string, now time.Time) error {
			return errors.Join(conns.PurgeInbound(ctx, now), conns.RunJob(ctx, connectors.JobDaily, key, now))
		}},
		{Name: "connectors-weekly", Schedule: jobs.Weekly, Run: connJob(connectors.JobWeekly)},
		{Name: "connectors-monthly", Schedule: jobs.Monthly, Run: connJob(connectors.JobMonthly)},
		{Name: "api-keys-rotation", Schedule: jobs.Daily, Run: func(ctx context.Context, _ string, _ time.Time) error {
			_, _, err := a.RotateDue(ctx)
			return err
		}},
	}
}
