package connectors

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

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/netguard"
)

// Options configures the service; zero values take the defaults.
type Options struct {
	// Timeout bounds one call to a connector: a test, an event, one sync
	// attempt (default 30s).
	Timeout time.Duration
	// SyncAttempts bounds the attempts of one sync (default 3), spaced by
	// RetryBase doubled per attempt with jitter (default 2s) or by the
	// vendor's Retry-After when longer.
	SyncAttempts int
	RetryBase    time.Duration
	// BreakerFailures failures in a row open a connector's breaker
	// (default 5) for BreakerOpen (default 1m): events wait, syncs fail
	// fast.
	BreakerFailures int
	BreakerOpen     time.Duration
	// AllowHTTP lets connector URLs be plain http:// (local tests and
	// stand-ins; HUB_CONNECTOR_ALLOW_HTTP=true). Default: https only.
	AllowHTTP bool
	// AllowPrivate lets connector URLs reach loopback, private and
	// link-local addresses (local stand-ins only;
	// HUB_CONNECTOR_ALLOW_PRIVATE=true). Default: refused, at validation
	// for IP literals and localhost names, and at every dial for the
	// addresses a name resolves to (upstream/netguard).
	AllowPrivate bool
	// HTTP is the client connectors use (default: no redirects followed,
	// no proxy, timeouts from the context, the SSRF guard at every dial).
	// A client given here bypasses the dial-time guard.
	HTTP *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives failures (never configurations or payloads).
	Logger *slog.Logger
	// PublicURL is the gateway's external URL (HUB_PUBLIC_URL): OAuth2
	// redirect URIs are PublicURL + /api/v1/integrations/{provider}/callback.
	PublicURL string
	// OAuthClients are Hub Chantier's registrations at OAuth2 vendors,
	// by type name (HUB_DROPBOX_CLIENT_ID…). A type without one cannot
	// be connected.
	OAuthClients map[string]OAuthClient
	// DocumentsDir holds documents' files as <dir>/<document id>
	// (HUB_DOCUMENTS_DIR), read by connectors that upload them (Dropbox).
	DocumentsDir string
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.SyncAttempts <= 0 {
		o.SyncAttempts = 3
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = time.Minute
	}
	if o.HTTP == nil {
		g := netguard.Guard{AllowPrivate: o.AllowPrivate}
		dialer := &net.Dialer{Timeout: 10 * time.Second, Control: g.DialControl}
		o.HTTP = &http.Client{
			Transport: &http.Transport{
				DialContext:         dialer.DialContext,
				Proxy:               nil, // a proxy would dial for us, past the guard
				TLSHandshakeTimeout: 10 * time.Second,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
				ForceAttemptHTTP2:   true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service stores connectors and runs them.
type Service struct {
	db   *db.DB
	keys *Keyring
	reg  *Registry
	opt  Options

	mu    sync.Mutex
	lanes map[string]*lane

	tokLocks tokenLocks
}

// New returns the service. keys may be nil (HUB_CONNECTOR_KEYS unset):
// the admin API then refuses to store configurations (503) and nothing
// runs.
func New(d *db.DB, keys *Keyring, reg *Registry, opt Options) *Service {
	opt.defaults()
	return &Service{db: d, keys: keys, reg: reg, opt: opt, lanes: map[string]*lane{}}
}

// DocumentsDir is Options.DocumentsDir.
func (s *Service) DocumentsDir() string { return s.opt.DocumentsDir }

// Registry returns the service's registry.
func (s *Service) Registry() *Registry { return s.reg }

// env is what the service's connectors may use.
func (s *Service) env() Env {
	return Env{DB: s.db, HTTP: s.opt.HTTP, Now: s.opt.Now, Logger: s.opt.Logger, AllowHTTP: s.opt.AllowHTTP, AllowPrivate: s.opt.AllowPrivate}
}

// record is a connectors row.
type record struct {
	ID           string
	Type         string
	Name         string
	OwnerID      int64
	Enabled      bool
	configEnc    string
	LastSyncAt   *time.Time
	SyncStatus   string
	ErrorMessage string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int
}

// Redacted replaces a secret field's value in every answer.
const Redacted = "[redacted]"

// View is a connector as the API shows it: secret fields redacted.
type View struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	OwnerID int64          `json:"owner_id"`
	Enabled bool           `json:"enabled"`
	Config  map[string]any `json:"config"`
	// SecretsSet lists the write-only fields that hold a value.
	SecretsSet   []string   `json:"secrets_set"`
	Events       []string   `json:"events"`
	Jobs         []string   `json:"jobs"`
	LastSyncAt   *time.Time `json:"last_sync_at"`
	SyncStatus   string     `json:"sync_status"`
	ErrorMessage string     `json:"error_message"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	Version      int        `json:"version"`
}

var (
	errNotFound  = errors.New("no such connector")
	errConflict  = errors.New("the connector changed meanwhile")
	errNoKeys    = errors.New("HUB_CONNECTOR_KEYS is not set: connector configurations cannot be stored")
	errKeyAbsent = ErrUnknownKey
)

const cols = `id, type, name, owner_id, enabled, config_enc, last_sync_at, sync_status, error_message, created_at, updated_at, version`

func scan(row interface{ Scan(...any) error }) (record, error) {
	var r record
	var last sql.NullInt64
	var created, updated int64
	err := row.Scan(&r.ID, &r.Type, &r.Name, &r.OwnerID, &r.Enabled, &r.configEnc, &last, &r.SyncStatus, &r.ErrorMessage,
		&created, &updated, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return r, errNotFound
	}
	r.LastSyncAt, r.CreatedAt, r.UpdatedAt = nullTime(last), db.FromMicros(created), db.FromMicros(updated)
	return r, err
}

func (s *Service) get(ctx context.Context, id string) (record, error) {
	return scan(s.db.QueryRow(ctx, `SELECT `+cols+` FROM connectors WHERE id = ?`, id))
}

func (s *Service) list(ctx context.Context) ([]record, error) {
	rows, err := s.db.Query(ctx, `SELECT `+cols+` FROM connectors ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// config opens a record's configuration.
func (s *Service) config(r record) (map[string]any, error) {
	if s.keys == nil {
		return nil, errNoKeys
	}
	plain, err := s.keys.Open(r.ID, r.configEnc)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(plain, &cfg); err != nil {
		return nil, fmt.Errorf("connector %s: stored config is not JSON", r.ID)
	}
	return cfg, nil
}

// view is r's public form; the config is opened and its secrets redacted.
func (s *Service) view(r record) View {
	v := View{ID: r.ID, Type: r.Type, Name: r.Name, OwnerID: r.OwnerID, Enabled: r.Enabled, Config: map[string]any{},
		SecretsSet: []string{}, Events: []string{}, Jobs: []string{}, LastSyncAt: r.LastSyncAt, SyncStatus: r.SyncStatus,
		ErrorMessage: r.ErrorMessage, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Version: r.Version}
	t, ok := s.reg.Get(r.Type)
	if ok {
		v.Events, v.Jobs = append(v.Events, t.Events...), append(v.Jobs, t.Jobs...)
	}
	cfg, err := s.config(r)
	if err != nil {
		v.Config = map[string]any{"error": "the configuration cannot be opened: " + err.Error()}
		return v
	}
	v.Config, v.SecretsSet = redact(t, cfg)
	return v
}

// redact copies cfg with t's secret fields replaced by Redacted.
func redact(t Type, cfg map[string]any) (map[string]any, []string) {
	out := make(map[string]any, len(cfg))
	set := []string{}
	for k, val := range cfg {
		out[k] = val
	}
	for _, f := range t.Secrets {
		if v, ok := out[f]; ok && v != nil && v != "" {
			out[f] = Redacted
			set = append(set, f)
		}
	}
	return out, set
}

var idEnc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "con_" + strings.ToLower(idEnc.EncodeToString(b))
}

// seal encrypts cfg for connector id.
func (s *Service) seal(id string, cfg map[string]any) (string, error) {
	if s.keys == nil {
		return "", errNoKeys
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return s.keys.Seal(id, b)
}

func (s *Service) create(ctx context.Context, owner int64, typ, name string, enabled bool, cfg map[string]any) (record, error) {
	id := newID()
	enc, err := s.seal(id, cfg)
	if err != nil {
		return record{}, err
	}
	now := db.Micros(s.opt.Now())
	if _, err := s.db.Exec(ctx, `INSERT INTO connectors (id, type, name, owner_id, enabled, config_enc, sync_status, error_message, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?, 'never', '', ?, ?, 1)`, id, typ, name, owner, enabled, enc, now, now); err != nil {
		return record{}, err
	}
	return s.get(ctx, id)
}

func (s *Service) update(ctx context.Context, r record, name string, enabled bool, cfg map[string]any) (record, error) {
	enc, err := s.seal(r.ID, cfg)
	if err != nil {
		return record{}, err
	}
	res, err := s.db.Exec(ctx, `UPDATE connectors SET name = ?, enabled = ?, config_enc = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?`, name, enabled, enc, db.Micros(s.opt.Now()), r.ID, r.Version)
	if err != nil {
		return record{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return record{}, errConflict
	}
	s.dropLane(r.ID)
	return s.get(ctx, r.ID)
}

func (s *Service) remove(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM connectors WHERE id = ?`, id); err != nil {
		return err
	}
	s.dropLane(id)
	return nil
}

// Reencrypt seals again, under the current key, every configuration
// sealed under an older one (key rotation). It returns how many rows it
// rewrote; a row whose key is missing is reported, not lost.
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	if s.keys == nil {
		return 0, errNoKeys
	}
	rs, err := s.list(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range rs {
		if KeyIDOf(r.configEnc) == s.keys.Current() {
			continue
		}
		plain, err := s.keys.Open(r.ID, r.configEnc)
		if err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", r.ID, err))
			continue
		}
		enc, err := s.keys.Seal(r.ID, plain)
		if err != nil {
			return n, err
		}
		// Only the ciphertext changes: the version (the API's optimistic
		// lock) stays, and a concurrent update wins.
		res, err := s.db.Exec(ctx, `UPDATE connectors SET config_enc = ? WHERE id = ? AND config_enc = ?`, enc, r.ID, r.configEnc)
		if err != nil {
			return n, err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// instance builds the Connector of r.
func (s *Service) instance(r record) (Connector, Type, error) {
	t, ok := s.reg.Get(r.Type)
	if !ok {
		return nil, t, Permanent("connector type %q is not available in this build", r.Type)
	}
	cfg, err := s.config(r)
	if err != nil {
		return nil, t, Permanent("%s", err.Error())
	}
	raw, _ := json.Marshal(cfg)
	env := s.env()
	if t.OAuth != nil {
		id := r.ID
		env.Token = func(ctx context.Context, stale string) (string, error) { return s.accessToken(ctx, id, stale) }
	}
	c, err := t.New(r.ID, raw, env)
	if err != nil {
		return nil, t, Permanent("invalid configuration: %s", err.Error())
	}
	return c, t, nil
}
