// Package auth is the identity side of the Hub Chantier upstream: users and
// their passwords, login with Ed25519-signed JWTs and the JWKS that gateways
// verify them with, API keys (issue, list, revoke, rotate with grace), and the
// internal endpoints a gateway calls: key introspection, the revocation feed
// and last-used reports.
//
// The upstream owns identity; the gateway only verifies. Secrets of API keys
// are returned once, at creation or rotation, and only their SHA-256 is kept.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultIssuer   = "hubchantier"
	DefaultAudience = "hub-api"
	DefaultTokenTTL = time.Hour
)

// Options configures a Service. Zero values take the documented defaults.
type Options struct {
	// Issuer and Audience are the JWT iss and aud claims; defaults
	// "hubchantier" and "hub-api".
	Issuer, Audience string
	// GatewaySecret (HUB_GATEWAY_SECRET) authenticates calls to /internal/*.
	// When empty every /internal call is refused.
	GatewaySecret []byte
	// AcceptSecret (HUB_GATEWAY_SECRET_ACCEPT) is a second shared secret
	// accepted on /internal/* calls and assertions, never used to sign:
	// the one being phased in or out during a rollover. Empty: none.
	AcceptSecret []byte
	// Now is the clock; default time.Now.
	Now func() time.Time
	// BcryptCost is the password hashing cost; default bcrypt.DefaultCost.
	// Tests use bcrypt.MinCost.
	BcryptCost int
	// TokenTTL is the lifetime of issued access tokens; default one hour.
	TokenTTL time.Duration
	// LoginThrottle configures the per-account slowdown of password checks
	// (login_throttle.go); zero values take its defaults.
	LoginThrottle LoginThrottleOptions
	// Sleep waits d or until ctx ends; default a timer. Token issuance
	// waits (at most MaxCutWait) for the second after a user's credential
	// cut; tests inject a Sleep that advances their clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Service implements the identity API. It is safe for concurrent use.
type Service struct {
	db   *db.DB
	o    Options
	keys *keyRing
	feed *notifier
	// feedPoll is how often WaitEvents re-reads the database for other
	// processes' events (0: every 100 ms); tests stretch it to prove that
	// this process's own events wake long-polls without it.
	feedPoll time.Duration
	// feedParked, when set (tests only), is called each time WaitEvents
	// has read the feed, found nothing and is about to wait.
	feedParked func()
	// dummyHash is compared against when a login names an unknown email, so
	// that both failures cost one bcrypt comparison. It is computed once,
	// lazily: CLI commands never need it.
	dummyHash func() []byte
	// loginThrottle counts failed passwords per (account, client network).
	loginThrottle *Throttle
	// compare checks a password against a bcrypt hash. It is a field so
	// that a test can count comparisons: Authenticate must make exactly
	// one, whatever the outcome (a timing oracle otherwise).
	compare func(hash, password []byte) error
}

// Errors returned by the Service methods. HTTP handlers map them to problems:
// ErrNotFound 404; ErrBadCredentials 401; the others 409.
var (
	ErrNotFound         = errors.New("not found")
	ErrEmailTaken       = errors.New("email already registered")
	ErrTooManyKeys      = fmt.Errorf("a user may hold at most %d active API keys", MaxActiveKeys)
	ErrKeyInactive      = errors.New("API key is revoked or expired")
	ErrBadCredentials   = errors.New("invalid email or password")
	ErrUserHasResources = errors.New("user is still referenced by other records")
	ErrConflict         = errors.New("the record changed concurrently; retry")
	ErrUserInactive     = errors.New("the user is deactivated")
)

// FieldError is a validation failure on one request field.
type FieldError struct {
	// Field is the JSON name of the offending field.
	Field string
	// Msg says what is wrong, in a sentence a client can show.
	Msg string
	// Forbidden marks a permission problem (a scope beyond the owner's role)
	// rather than a malformed value; it maps to 403 instead of 400.
	Forbidden bool
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// New returns a Service over d, whose migrations must have been applied. It
// loads the current signing key, creating the first one if there is none.
func New(ctx context.Context, d *db.DB, o Options) (*Service, error) {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range %d..%d", o.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	o.LoginThrottle.defaults()
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	s := &Service{db: d, o: o, feed: newNotifier(), compare: bcrypt.CompareHashAndPassword,
		loginThrottle: NewThrottle(o.LoginThrottle.MaxFailures, o.LoginThrottle.Window, o.LoginThrottle.Capacity)}
	s.dummyHash = sync.OnceValue(func() []byte {
		// Cannot fail: the password is short and the cost was checked.
		h, _ := bcrypt.GenerateFromPassword([]byte("hubchantier-dummy-password"), o.BcryptCost)
		return h
	})
	s.keys = &keyRing{s: s, ttl: keyRefresh}
	if err := s.keys.ensure(ctx); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

// Register adds every route of the identity API to mux:
//
//	POST   /api/auth/login
//	POST   /api/auth/api-keys            GET /api/auth/api-keys
//	DELETE /api/auth/api-keys/{id}       POST /api/auth/api-keys/{id}/rotate
//	POST   /api/v1/admin/api-keys        GET /api/v1/admin/api-keys
//	DELETE /api/v1/admin/api-keys/{id}   POST /api/v1/admin/api-keys/{id}/rotate
//	POST   /api/v1/users                 PATCH, DELETE /api/v1/users/{id}
//	GET    /.well-known/jwks.json
//	POST   /internal/introspect          GET /internal/revocations
//	POST   /internal/usage
//
// /api/* routes expect httpx.RequireAssertion in front; /internal/* routes
// check the gateway secret themselves.
func (s *Service) Register(mux *http.ServeMux) {
	go s.dummyHash() // ready before the first login with an unknown email
	mux.HandleFunc("POST /api/auth/login", s.handleLogin)
	mux.HandleFunc("GET "+contract.PathJWKS, s.handleJWKS)

	mux.HandleFunc("POST /api/auth/api-keys", s.handleCreateKey)
	mux.HandleFunc("GET /api/auth/api-keys", s.handleListKeys)
	mux.HandleFunc("DELETE /api/auth/api-keys/{id}", s.handleRevokeKey)
	mux.HandleFunc("POST /api/auth/api-keys/{id}/rotate", s.handleRotateKey)
	mux.HandleFunc("POST /api/auth/api-keys/{id}/claim", s.handleClaimKey)

	mux.HandleFunc("POST /api/v1/admin/api-keys", s.handleAdminCreateKey)
	mux.HandleFunc("GET /api/v1/admin/api-keys", s.handleAdminListKeys)
	mux.HandleFunc("DELETE /api/v1/admin/api-keys/{id}", s.handleAdminRevokeKey)
	mux.HandleFunc("POST /api/v1/admin/api-keys/{id}/rotate", s.handleAdminRotateKey)

	mux.HandleFunc("POST /api/v1/users", s.handleCreateUser)
	mux.HandleFunc("PATCH /api/v1/users/{id}", s.handleUpdateUser)
	mux.HandleFunc("DELETE /api/v1/users/{id}", s.handleDeleteUser)

	mux.Handle("POST "+contract.PathIntrospect, s.internal(s.handleIntrospect))
	mux.Handle("GET "+contract.PathRevocations, s.internal(s.handleRevocations))
	mux.Handle("POST "+contract.PathUsage, s.internal(s.handleUsage))
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
