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
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/domain"
	"github.com/hubchantier/hubgate/upstream/graphql"
	"github.com/hubchantier/hubgate/upstream/httpx"
	"github.com/hubchantier/hubgate/upstream/oauth"
)

// MinSecretLen is the shortest accepted HUB_GATEWAY_SECRET, in bytes.
const MinSecretLen = 32

// Config configures the service.
type Config struct {
	// GatewaySecret is HUB_GATEWAY_SECRET, shared with the gateway: it
	// verifies identity assertions and authenticates /internal/* calls.
	GatewaySecret []byte
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
	// LoginThrottle configures the per-account slowdown of password checks
	// (docs/auth.md); zero values take the defaults.
	LoginThrottle auth.LoginThrottleOptions
	// GraphQLIntrospection enables introspection and the GraphiQL page of
	// /graphql (HUB_GRAPHQL_INTROSPECTION; docs/graphql.md).
	GraphQLIntrospection bool
}

// New builds the service's handler.
func New(ctx context.Context, cfg Config, d *db.DB) (http.Handler, *auth.Service, error) {
	if len(cfg.GatewaySecret) < MinSecretLen {
		return nil, nil, errors.New("HUB_GATEWAY_SECRET must be at least 32 bytes")
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
		Now:           cfg.Now,
		BcryptCost:    cfg.BcryptCost,
		LoginThrottle: cfg.LoginThrottle,
	})
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	a.Register(mux)
	oauth.New(d, a, oauth.Options{Now: cfg.Now, Logger: cfg.Logger, PublicURL: cfg.PublicURL,
		CSRFKey: deriveKey(cfg.GatewaySecret, "oauth-csrf")}).Register(mux)
	dom := domain.New(d, deriveKey(cfg.GatewaySecret, "cursor"))
	dom.Register(mux)
	// GraphQL (docs/graphql.md): its resolvers run the REST routes of mux.
	gql, err := graphql.New(mux, dom, graphql.Options{Introspection: cfg.GraphQLIntrospection})
	if err != nil {
		return nil, nil, err
	}
	gql.Register(mux)
	anomaly.New(d, cfg.GatewaySecret, deriveKey(cfg.GatewaySecret, "cursor"), cfg.Now).Register(mux)
	audit.New(d, deriveKey(cfg.GatewaySecret, "audit-cursor")).Register(mux, cfg.GatewaySecret)
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
	var h http.Handler = httpx.RequireAssertion(cfg.GatewaySecret, cfg.Now, a.Principals(problemMux(mux)))
	h = logRequests(cfg.Logger, h)
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
