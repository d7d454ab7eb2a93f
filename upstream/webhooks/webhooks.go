// Package webhooks serves /api/v1/webhooks (owner-scoped endpoints that
// receive domain events) and delivers events to them, signed per the
// Standard Webhooks specification (docs/webhooks.md). Deliveries run in
// the events package's dispatcher: this package is its "webhook" Target.
package webhooks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/events"
)

// Kind is the webhooks' target kind in the event dispatcher.
const Kind = "webhook"

// Limits.
const (
	// MaxPerUser bounds the webhooks one user may hold.
	MaxPerUser = 25
	// maxDescription bounds a description, in bytes.
	maxDescription = 500
	// maxPatterns bounds the event patterns of one webhook.
	maxPatterns = 50
)

// Options configures the service; zero values take the defaults.
type Options struct {
	// OpenKeys are further 32-byte keys that open (never seal) stored
	// secrets: the key derived from HUB_GATEWAY_SECRET_ACCEPT during a
	// rollover of the shared secret.
	OpenKeys [][]byte
	// AllowPrivate lets webhooks target loopback, private and link-local
	// addresses (HUB_WEBHOOK_ALLOW_PRIVATE=true; local tests only).
	AllowPrivate bool
	// SecretOverlap is how long the previous secret keeps signing after a
	// rotation (default 24h).
	SecretOverlap time.Duration
	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration
	// DisableAfter is how many failed attempts in a row, with no success
	// between, disable an endpoint (default 20; with the default backoff
	// that is about two days of failures).
	DisableAfter int
	// BreakerFailures is how many failures in a row open an endpoint's
	// breaker (default 5); BreakerOpen how long it stays open before one
	// trial (default 1m). While open, deliveries wait, counting no attempt.
	BreakerFailures int
	BreakerOpen     time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives delivery failures (never bodies or secrets).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.SecretOverlap <= 0 {
		o.SecretOverlap = 24 * time.Hour
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DisableAfter <= 0 {
		o.DisableAfter = 20
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service stores webhooks and delivers events to them.
type Service struct {
	db     *db.DB
	opt    Options
	seal   *sealer
	guard  guard
	client *http.Client

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[int]
}

// New returns the service. key (32 bytes, derived from the gateway secret)
// encrypts signing secrets at rest; instances sharing a database must
// share it.
func New(d *db.DB, key []byte, opt Options) (*Service, error) {
	opt.defaults()
	s, err := newSealer(key, opt.OpenKeys...)
	if err != nil {
		return nil, err
	}
	g := guard{allowPrivate: opt.AllowPrivate, resolver: net.DefaultResolver}
	dialer := &net.Dialer{Timeout: opt.Timeout, Control: g.dialControl}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		Proxy:                 nil, // a proxy would dial for us, past the guard
		TLSHandshakeTimeout:   opt.Timeout,
		ResponseHeaderTimeout: opt.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   opt.Timeout,
		// Redirects are never followed: a 3xx is a failed delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Service{db: d, opt: opt, seal: s, guard: g, client: client, breakers: map[string]*gobreaker.CircuitBreaker[int]{}}, nil
}

// Webhook is the public view of an endpoint: never its secret.
type Webhook struct {
	ID          string   `json:"id"`
	UserID      int64    `json:"user_id"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason says why the endpoint was disabled ("" when enabled).
	DisabledReason string `json:"disabled_reason,omitempty"`
	// PreviousSecretExpiresAt is the end of a rotation's overlap, while
	// both secrets sign.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	Version                 int64      `json:"version"`
	// Secret is shown once: on creation and on rotation.
	Secret string `json:"secret,omitempty"`

	secretEnc, prevEnc string
	prevUntil          *time.Time
	failures           int
}

// Errors mapped to problems by the handlers.
var (
	errNotFound = errors.New("webhook not found")
	errTooMany  = fmt.Errorf("a user may hold at most %d webhooks", MaxPerUser)
	errConflict = errors.New("the webhook changed meanwhile")
)

const cols = `id, user_id, url, description, events, secret_enc, prev_secret_enc, prev_secret_until, enabled,
	disabled_reason, consecutive_failures, created_at, updated_at, version`

func scan(row interface{ Scan(...any) error }) (Webhook, error) {
	var w Webhook
	var evs string
	var prevUntil sql.NullInt64
	var created, updated int64
	err := row.Scan(&w.ID, &w.UserID, &w.URL, &w.Description, &evs, &w.secretEnc, &w.prevEnc, &prevUntil, &w.Enabled,
		&w.DisabledReason, &w.failures, &created, &updated, &w.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return w, errNotFound
	}
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(evs), &w.Events); err != nil {
		return w, fmt.Errorf("webhook %s: events: %w", w.ID, err)
	}
	w.CreatedAt, w.UpdatedAt = db.FromMicros(created), db.FromMicros(updated)
	if prevUntil.Valid {
		t := db.FromMicros(prevUntil.Int64)
		w.prevUntil = &t
	}
	return w, nil
}

// view hides an expired overlap.
func (w Webhook) view(now time.Time) Webhook {
	if w.prevUntil != nil && w.prevUntil.After(now) && w.prevEnc != "" {
		w.PreviousSecretExpiresAt = w.prevUntil
	}
	return w
}

var idEnc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func newID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "wh_" + idEnc.EncodeToString(b)
}

// get loads webhook id.
func (s *Service) get(ctx context.Context, id string) (Webhook, error) {
	return scan(s.db.QueryRow(ctx, `SELECT `+cols+` FROM webhooks WHERE id = ?`, id))
}

// list returns the webhooks of userID (0: all), newest first.
func (s *Service) list(ctx context.Context, userID int64) ([]Webhook, error) {
	q, args := `SELECT `+cols+` FROM webhooks`, []any{}
	if userID != 0 {
		q, args = q+` WHERE user_id = ?`, append(args, userID)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.opt.Now()
	out := []Webhook{}
	for rows.Next() {
		w, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w.view(now))
	}
	return out, rows.Err()
}

// input is the body of POST and PATCH.
type input struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// fieldError is one invalid field.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type fieldErrors []fieldError

func (e fieldErrors) Error() string { return e[0].Field + ": " + e[0].Message }

// validate checks in (create: url and events required) into w.
func (s *Service) validate(ctx context.Context, in input, w *Webhook, create bool) error {
	var errs fieldErrors
	if in.URL != nil {
		u, err := s.guard.checkURL(ctx, strings.TrimSpace(*in.URL))
		if err != nil {
			errs = append(errs, fieldError{"url", err.Error()})
		} else {
			w.URL = u.String()
		}
	} else if create {
		errs = append(errs, fieldError{"url", "url is required"})
	}
	if in.Events != nil {
		if msg := checkPatterns(*in.Events); msg != "" {
			errs = append(errs, fieldError{"events", msg})
		} else {
			w.Events = *in.Events
		}
	} else if create {
		errs = append(errs, fieldError{"events", "events is required: a list of event types or patterns (\"chantier.*\")"})
	}
	if in.Description != nil {
		if len(*in.Description) > maxDescription {
			errs = append(errs, fieldError{"description", fmt.Sprintf("description is longer than %d bytes", maxDescription)})
		} else {
			w.Description = *in.Description
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// checkPatterns validates event patterns: a known type, "<prefix>.*"
// naming a known family, or "*".
func checkPatterns(ps []string) string {
	if len(ps) == 0 {
		return "events must name at least one event type"
	}
	if len(ps) > maxPatterns {
		return fmt.Sprintf("events holds more than %d patterns", maxPatterns)
	}
	for _, p := range ps {
		ok := false
		for _, t := range events.Types {
			if Match(p, t) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Sprintf("%q names no event type (known: %s)", p, strings.Join(events.Types, ", "))
		}
	}
	return ""
}

// Match reports whether pattern p selects event type t: equal, "*", or
// "family.*" for every type of the family.
func Match(p, t string) bool {
	if p == "*" || p == t {
		return true
	}
	fam, ok := strings.CutSuffix(p, ".*")
	return ok && fam != "" && strings.HasPrefix(t, fam+".")
}

// create stores a new webhook for userID and returns it with its secret.
func (s *Service) create(ctx context.Context, userID int64, w Webhook) (Webhook, error) {
	secret, err := newSecret()
	if err != nil {
		return Webhook{}, err
	}
	w.ID, w.UserID, w.Enabled = newID(), userID, true
	enc, err := s.seal.seal(w.ID, secret)
	if err != nil {
		return Webhook{}, err
	}
	evs, _ := json.Marshal(w.Events)
	now := db.Micros(s.opt.Now())
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Webhook{}, err
	}
	defer tx.Rollback()
	lock := `SELECT id FROM users WHERE id = ?`
	if s.db.Dialect == db.Postgres {
		lock += ` FOR UPDATE` // concurrent creations count one another
	}
	var uid int64
	if err := tx.QueryRowContext(ctx, s.db.Rebind(lock), userID).Scan(&uid); err != nil {
		return Webhook{}, fmt.Errorf("lock user %d: %w", userID, err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT COUNT(*) FROM webhooks WHERE user_id = ?`), userID).Scan(&n); err != nil {
		return Webhook{}, err
	}
	if n >= MaxPerUser {
		return Webhook{}, errTooMany
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO webhooks (id, user_id, url, description, events, secret_enc, enabled, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, ?, 1)`), w.ID, userID, w.URL, w.Description, string(evs), enc, now, now); err != nil {
		return Webhook{}, fmt.Errorf("insert webhook: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Webhook{}, err
	}
	out, err := s.get(ctx, w.ID)
	out.Secret = secret
	return out.view(s.opt.Now()), err
}

// update writes the changed fields of w at version.
func (s *Service) update(ctx context.Context, w Webhook, enable *bool) (Webhook, error) {
	evs, _ := json.Marshal(w.Events)
	set := `url = ?, description = ?, events = ?, updated_at = ?, version = version + 1`
	args := []any{w.URL, w.Description, string(evs), db.Micros(s.opt.Now())}
	if enable != nil {
		// Enabling again starts a fresh failure count.
		set += `, enabled = ?, disabled_reason = '', consecutive_failures = 0`
		args = append(args, *enable)
	}
	res, err := s.db.Exec(ctx, `UPDATE webhooks SET `+set+` WHERE id = ? AND version = ?`, append(args, w.ID, w.Version)...)
	if err != nil {
		return Webhook{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Webhook{}, errConflict
	}
	if enable != nil && *enable {
		s.resetBreaker(w.ID)
	}
	out, err := s.get(ctx, w.ID)
	return out.view(s.opt.Now()), err
}

// remove deletes webhook id; its pending deliveries are dropped when due.
func (s *Service) remove(ctx context.Context, id string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

// rotate gives webhook id a new secret; the current one keeps signing for
// SecretOverlap (a previous one still in its overlap is dropped).
func (s *Service) rotate(ctx context.Context, w Webhook) (Webhook, error) {
	secret, err := newSecret()
	if err != nil {
		return Webhook{}, err
	}
	enc, err := s.seal.seal(w.ID, secret)
	if err != nil {
		return Webhook{}, err
	}
	now := s.opt.Now()
	res, err := s.db.Exec(ctx, `UPDATE webhooks SET secret_enc = ?, prev_secret_enc = secret_enc, prev_secret_until = ?,
		updated_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
		enc, db.Micros(now.Add(s.opt.SecretOverlap)), db.Micros(now), w.ID, w.Version)
	if err != nil {
		return Webhook{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Webhook{}, errConflict
	}
	out, err := s.get(ctx, w.ID)
	out.Secret = secret
	return out.view(now), err
}
