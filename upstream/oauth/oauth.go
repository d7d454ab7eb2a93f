// Package oauth is the OAuth2 authorization server of Hub Chantier: partner
// apps (ERP connectors, calendar sync) act for a user without holding the
// user's password or a long-lived key.
//
// It follows RFC 6749 (authorization code and refresh token grants),
// RFC 7636 (PKCE, S256 only), RFC 7009 (revocation), RFC 7662
// (introspection), RFC 8414 (metadata), RFC 9207 (iss in the authorization
// response) and the OAuth 2.0 Security BCP (RFC 9700): exact redirect URI
// matching, single-use codes bound to client, redirect URI, scopes and PKCE
// challenge, refresh token rotation with reuse detection.
//
// Access tokens are JWTs signed by the auth.Service keys (one JWKS for login
// and OAuth2 tokens); the gateway verifies them and hears of revocations
// through the auth revocation feed ("token" events per jti, "client" events
// per client). Codes, refresh tokens, sessions and client secrets are stored
// as SHA-256 hashes only.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Lifetimes, fixed by the issue (RFC 9700 §4.4: codes short-lived).
const (
	CodeTTL         = 10 * time.Minute
	AccessTokenTTL  = time.Hour
	RefreshTokenTTL = 30 * 24 * time.Hour
	SessionTTL      = 15 * time.Minute
)

// Defaults of the client authentication failure throttle.
const (
	DefaultMaxClientFailures = 10
	DefaultFailureWindow     = time.Minute
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	// Now is the clock; default time.Now. Tests inject it to expire codes.
	Now func() time.Time
	// Logger receives failure lines (never secrets); default discards.
	Logger *slog.Logger
	// PublicURL is the externally visible base URL of the service (the
	// gateway's, HUB_PUBLIC_URL), used in the RFC 8414 metadata endpoints
	// and as the issuer when the JWT issuer is not a URL. It comes from
	// configuration only, never from a request's Host or X-Forwarded-*
	// headers. Default: the JWT issuer when it is an http(s) URL; with
	// neither, the metadata endpoint answers 404 (docs/oauth2.md).
	PublicURL string
	// MaxClientFailures failed client authentications of one client_id
	// from one client network (an IPv4 address, an IPv6 /64) within
	// FailureWindow make that client_id answer 429 to that network until
	// the window ends; defaults 10 per minute. Other networks, the
	// client's own included, are unaffected.
	MaxClientFailures int
	// FailureWindow is the length of a counting window, starting at the
	// first failure; default one minute.
	FailureWindow time.Duration
	// ThrottleCapacity bounds the (client, network) windows kept in
	// memory; default 65536 (auth.DefaultThrottleCapacity).
	ThrottleCapacity int
	// CSRFKey is the server-side key the CSRF tokens of the sign-in and
	// consent forms are HMACs with. Instances behind one gateway must share
	// it (the server derives it from HUB_GATEWAY_SECRET); default: random
	// per process.
	CSRFKey []byte
}

// Server is the authorization server. It is safe for concurrent use.
type Server struct {
	db       *db.DB
	auth     *auth.Service
	o        Options
	log      *slog.Logger
	throttle *auth.Throttle
}

// New returns a Server over d (migrated) issuing tokens with a.
func New(d *db.DB, a *auth.Service, o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	if o.MaxClientFailures <= 0 {
		o.MaxClientFailures = DefaultMaxClientFailures
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = DefaultFailureWindow
	}
	if o.ThrottleCapacity <= 0 {
		o.ThrottleCapacity = auth.DefaultThrottleCapacity
	}
	if len(o.CSRFKey) == 0 {
		o.CSRFKey = make([]byte, 32)
		if _, err := rand.Read(o.CSRFKey); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
	}
	s := &Server{db: d, auth: a, o: o, log: o.Logger.With("component", "oauth"),
		throttle: auth.NewThrottle(o.MaxClientFailures, o.FailureWindow, o.ThrottleCapacity)}
	if s.baseURL() == "" {
		s.log.Warn("no public URL configured (HUB_PUBLIC_URL, or an http(s) HUB_JWT_ISSUER): " +
			"GET /.well-known/oauth-authorization-server answers 404 and authorization responses carry no iss")
	}
	return s
}

// Register adds the OAuth2 routes to mux:
//
//	GET, POST /oauth/authorize           login + consent pages
//	POST      /oauth/login               login form target
//	POST      /oauth/token               RFC 6749 §3.2
//	POST      /oauth/revoke              RFC 7009
//	POST      /oauth/introspect          RFC 7662
//	GET       /.well-known/oauth-authorization-server   RFC 8414
//	GET       /api/auth/apps             DELETE /api/auth/apps/{client_id}
//	GET       /api/v1/admin/oauth-clients  DELETE /api/v1/admin/oauth-clients/{id}
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/authorize", s.handleConsent)
	mux.HandleFunc("POST /oauth/login", s.handleLogin)
	mux.HandleFunc("POST /oauth/token", s.handleToken)
	mux.HandleFunc("POST /oauth/revoke", s.handleRevoke)
	mux.HandleFunc("POST /oauth/introspect", s.handleIntrospect)
	// Other methods on the JSON endpoints: an RFC 6749 §5.2 405, not the
	// service's problem+json.
	for _, p := range []string{"/oauth/token", "/oauth/revoke", "/oauth/introspect"} {
		mux.HandleFunc(p, s.handleWrongMethod)
	}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleMetadata)
	mux.HandleFunc("GET /api/auth/apps", s.handleListApps)
	mux.HandleFunc("DELETE /api/auth/apps/{client_id}", s.handleRevokeApp)
	mux.HandleFunc("GET /api/v1/admin/oauth-clients", s.handleAdminListClients)
	mux.HandleFunc("DELETE /api/v1/admin/oauth-clients/{id}", s.handleAdminRevokeClient)
}

func (s *Server) now() time.Time { return s.o.Now().UTC() }

// ErrNotFound is returned for unknown clients and grants.
var ErrNotFound = errors.New("not found")

// randomToken returns 256 bits from crypto/rand, base64url without padding
// (43 characters): codes, refresh tokens, sessions, secrets.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is the stored form of a random secret: its SHA-256 in hex. The
// secrets have full entropy, so a slow hash would add latency, not safety.
func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only string slices are marshalled
	}
	return string(b)
}

func parseList(s string) []string {
	var out []string
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// publish sends one revocation event to every gateway.
func (s *Server) publish(ctx context.Context, kind, ref string) error {
	if err := s.auth.Publish(ctx, kind, ref); err != nil {
		s.log.Error("publish revocation", "kind", kind, "error", err)
		return err
	}
	return nil
}
