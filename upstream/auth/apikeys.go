package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// API key policy.
const (
	// MaxActiveKeys is how many active (not revoked, not expired) keys a
	// user may hold.
	MaxActiveKeys = 10
	// DefaultExpiryDays applies when a request gives no expires_in_days.
	DefaultExpiryDays = 90
	// MaxExpiryDays is the longest lifetime a key may be given.
	MaxExpiryDays = 365
	// GracePeriod is how long the previous secret stays valid after a rotation.
	GracePeriod = 7 * 24 * time.Hour
	// ExpiringSoon is how close to expiry a key is reported "expiring_soon".
	ExpiringSoon = 7 * 24 * time.Hour
	// DefaultRotationDays is the automatic rotation period of a key
	// created with auto_rotate and no rotation_interval_days.
	DefaultRotationDays = 90
	// ExpiringNotice is how long before its expiry a key's owner is told
	// by an api_key.expiring event.
	ExpiringNotice = 14 * 24 * time.Hour
)

// Key statuses.
const (
	StatusActive       = "active"
	StatusRevoked      = "revoked"
	StatusExpired      = "expired"
	StatusExpiringSoon = "expiring_soon"
)

// CreateKeyRequest describes a new API key. It is the JSON body of
// POST /api/auth/api-keys (rate_limit is honoured for administrators only).
type CreateKeyRequest struct {
	// Name labels the key for its owner (required, at most 100 characters).
	Name string `json:"name"`
	// Description is free text (at most 500 characters).
	Description string `json:"description,omitempty"`
	// Scopes are granted to the key, within the owner's role (required).
	Scopes []string `json:"scopes"`
	// ExpiresInDays is the lifetime, 1 to 365; 0 means the default of 90.
	ExpiresInDays int `json:"expires_in_days,omitempty"`
	// IPWhitelist restricts the key to these IPs and CIDRs (v4 or v6).
	IPWhitelist []string `json:"ip_whitelist,omitempty"`
	// RateLimit is a per-key limit such as "100/hour"; "" for none.
	RateLimit string `json:"rate_limit,omitempty"`
	// AutoRotate lets the daily job rotate the key every
	// RotationIntervalDays (docs/auth.md, "Scheduled rotation").
	AutoRotate bool `json:"auto_rotate,omitempty"`
	// RotationIntervalDays is the automatic rotation period, 1 to 365;
	// 0 means DefaultRotationDays.
	RotationIntervalDays int `json:"rotation_interval_days,omitempty"`
}

// KeyInfo is the public view of an API key: never a secret or a hash.
type KeyInfo struct {
	// ID is the public key id, the part after "hbc_" in the key.
	ID string `json:"id"`
	// UserID owns the key.
	UserID      int64    `json:"user_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
	// ExpiresAt ends the key's validity.
	ExpiresAt time.Time `json:"expires_at"`
	// IPWhitelist lists the IPs and CIDRs allowed to use the key; empty: any.
	IPWhitelist []string `json:"ip_whitelist"`
	// RateLimit is the per-key limit ("100/hour"), "" for the default.
	RateLimit string    `json:"rate_limit"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is null until a gateway reports a use.
	LastUsedAt *time.Time `json:"last_used_at"`
	// RevokedAt is set once the key is revoked.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// GraceUntil is set after a rotation while the previous secret still works.
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	// Status is active, revoked, expired or expiring_soon (active, and
	// expiring within seven days).
	Status string `json:"status"`
	// AutoRotate, RotationIntervalDays and LastRotatedAt describe the
	// scheduled rotation (docs/auth.md).
	AutoRotate           bool       `json:"auto_rotate"`
	RotationIntervalDays int        `json:"rotation_interval_days"`
	LastRotatedAt        *time.Time `json:"last_rotated_at"`
	// RotatedKeyPending: an automatic rotation minted a key that its owner
	// has not claimed yet (POST /api/auth/api-keys/{id}/claim).
	RotatedKeyPending bool `json:"rotated_key_pending"`
}

// Created is a key as returned on creation or rotation: the only time the
// whole key, secret included, is ever shown.
type Created struct {
	KeyInfo
	// Key is the whole key, hbc_<id>_<secret>.
	Key string `json:"key"`
}

// keyRow is a whole api_keys row.
type keyRow struct {
	KeyInfo
	secretHash string
	graceHash  string
	version    int
	rotatedEnc string
}

const keyCols = `id, user_id, name, description, scopes, secret_hash, grace_hash, grace_until, ip_whitelist, rate_limit, expires_at, revoked_at, last_used_at, created_at, version, auto_rotate, rotation_interval_days, last_rotated_at, rotated_key_enc`

func scanKey(row interface{ Scan(...any) error }, now time.Time) (keyRow, error) {
	var k keyRow
	var scopes, ips string
	var graceUntil, revoked, lastUsed, lastRotated *int64
	var expires, created int64
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Description, &scopes, &k.secretHash, &k.graceHash,
		&graceUntil, &ips, &k.RateLimit, &expires, &revoked, &lastUsed, &created, &k.version,
		&k.AutoRotate, &k.RotationIntervalDays, &lastRotated, &k.rotatedEnc)
	k.LastRotatedAt = optTime(lastRotated)
	k.RotatedKeyPending = k.rotatedEnc != ""
	if errors.Is(err, sql.ErrNoRows) {
		return keyRow{}, ErrNotFound
	}
	if err != nil {
		return keyRow{}, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return keyRow{}, fmt.Errorf("key %s: scopes: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(ips), &k.IPWhitelist); err != nil {
		return keyRow{}, fmt.Errorf("key %s: ip_whitelist: %w", k.ID, err)
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	if k.IPWhitelist == nil {
		k.IPWhitelist = []string{}
	}
	k.ExpiresAt, k.CreatedAt = db.FromMicros(expires), db.FromMicros(created)
	k.RevokedAt, k.LastUsedAt = optTime(revoked), optTime(lastUsed)
	if g := optTime(graceUntil); g != nil && g.After(now) && k.graceHash != "" {
		k.GraceUntil = g
	}
	k.Status = keyStatus(k.RevokedAt, k.ExpiresAt, now)
	return k, nil
}

func optTime(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := db.FromMicros(*us)
	return &t
}

func keyStatus(revoked *time.Time, expires, now time.Time) string {
	switch {
	case revoked != nil:
		return StatusRevoked
	case !expires.After(now):
		return StatusExpired
	case expires.Sub(now) <= ExpiringSoon:
		return StatusExpiringSoon
	default:
		return StatusActive
	}
}

// validateKeyRequest checks req for a key owned by a user of role and
// returns the normalised scopes and allowlist.
func validateKeyRequest(req *CreateKeyRequest, role string) (scopes, ips []string, err error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > MaxNameLen {
		return nil, nil, fieldErr("name", "is required (1 to %d characters)", MaxNameLen)
	}
	if len(req.Description) > MaxDescLen {
		return nil, nil, fieldErr("description", "must be at most %d characters", MaxDescLen)
	}
	if req.ExpiresInDays == 0 {
		req.ExpiresInDays = DefaultExpiryDays
	}
	if req.ExpiresInDays < 1 || req.ExpiresInDays > MaxExpiryDays {
		return nil, nil, fieldErr("expires_in_days", "must be between 1 and %d", MaxExpiryDays)
	}
	if req.RotationIntervalDays == 0 {
		req.RotationIntervalDays = DefaultRotationDays
	}
	if req.RotationIntervalDays < 1 || req.RotationIntervalDays > MaxExpiryDays {
		return nil, nil, fieldErr("rotation_interval_days", "must be between 1 and %d", MaxExpiryDays)
	}
	if !ValidRateLimit(req.RateLimit) {
		return nil, nil, fieldErr("rate_limit", "must read N/unit with unit second, minute, hour or day (for example \"100/hour\")")
	}
	if scopes, err = normalizeScopes(role, req.Scopes); err != nil {
		return nil, nil, err
	}
	if ips, err = normalizeIPs(req.IPWhitelist); err != nil {
		return nil, nil, err
	}
	return scopes, ips, nil
}

// CreateAPIKey issues a key for the user named by userEmailOrID (an email or
// a decimal id). The returned Created holds the secret; it is not kept.
func (s *Service) CreateAPIKey(ctx context.Context, userEmailOrID string, req CreateKeyRequest) (Created, error) {
	u, err := s.UserByEmailOrID(ctx, userEmailOrID)
	if errors.Is(err, ErrNotFound) {
		return Created{}, fieldErr("user_id", "no user %q", userEmailOrID)
	}
	if err != nil {
		return Created{}, err
	}
	return s.createKey(ctx, u, req)
}

func (s *Service) createKey(ctx context.Context, u User, req CreateKeyRequest) (Created, error) {
	scopes, ips, err := validateKeyRequest(&req, u.Role)
	if err != nil {
		return Created{}, err
	}
	id, secret, key, err := apikey.Generate()
	if err != nil {
		return Created{}, fmt.Errorf("generate key: %w", err)
	}
	scopesJSON, _ := json.Marshal(scopes)
	ipsJSON, _ := json.Marshal(ips)
	now := s.now()
	expires := now.Add(time.Duration(req.ExpiresInDays) * 24 * time.Hour)
	d := s.db
	tx, err := d.Begin(ctx)
	if err != nil {
		return Created{}, fmt.Errorf("create key: %w", err)
	}
	defer tx.Rollback()
	// Lock the owner's row so that concurrent creations count one another
	// (SQLite transactions already take the write lock at BEGIN).
	lock := `SELECT id FROM users WHERE id = ?`
	if d.Dialect == db.Postgres {
		lock += ` FOR UPDATE`
	}
	var uid int64
	if err := tx.QueryRowContext(ctx, d.Rebind(lock), u.ID).Scan(&uid); err != nil {
		return Created{}, fmt.Errorf("lock user %d: %w", u.ID, err)
	}
	var active int
	if err := tx.QueryRowContext(ctx, d.Rebind(`SELECT COUNT(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`),
		u.ID, db.Micros(now)).Scan(&active); err != nil {
		return Created{}, fmt.Errorf("count keys of user %d: %w", u.ID, err)
	}
	if active >= MaxActiveKeys {
		return Created{}, ErrTooManyKeys
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO api_keys (id, user_id, name, description, scopes, secret_hash, grace_hash, ip_whitelist, rate_limit, expires_at, created_at, version, auto_rotate, rotation_interval_days)
		VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, 1, ?, ?)`),
		id, u.ID, req.Name, req.Description, string(scopesJSON), apikey.Hash(secret), string(ipsJSON), req.RateLimit,
		db.Micros(expires), db.Micros(now), req.AutoRotate, req.RotationIntervalDays); err != nil {
		return Created{}, fmt.Errorf("insert key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Created{}, fmt.Errorf("create key: %w", err)
	}
	k, err := s.loadKey(ctx, id)
	if err != nil {
		return Created{}, err
	}
	return Created{KeyInfo: k.KeyInfo, Key: key}, nil
}

func (s *Service) loadKey(ctx context.Context, id string) (keyRow, error) {
	k, err := scanKey(s.db.QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id), s.now())
	if err != nil && !errors.Is(err, ErrNotFound) {
		return keyRow{}, fmt.Errorf("load key %s: %w", id, err)
	}
	return k, err
}

// ListAPIKeys returns the keys of userID (0: every key), newest first.
func (s *Service) ListAPIKeys(ctx context.Context, userID int64) ([]KeyInfo, error) {
	q, args := `SELECT `+keyCols+` FROM api_keys`, []any{}
	if userID != 0 {
		q, args = q+` WHERE user_id = ?`, append(args, userID)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	now := s.now()
	out := []KeyInfo{}
	for rows.Next() {
		k, err := scanKey(rows, now)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k.KeyInfo)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes a key for good and publishes an api_key revocation
// event, and an api_key.revoked domain event in the same transaction.
// Revoking a revoked key is a no-op.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	d := s.db
	tx, err := d.Begin(ctx)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	defer tx.Rollback()
	now := s.now()
	var owner int64
	var name string
	err = tx.QueryRowContext(ctx, d.Rebind(`UPDATE api_keys SET revoked_at = ?, version = version + 1 WHERE id = ? AND revoked_at IS NULL
		RETURNING user_id, name`), db.Micros(now), id).Scan(&owner, &name)
	if errors.Is(err, sql.ErrNoRows) {
		_ = tx.Rollback()
		if _, err := s.loadKey(ctx, id); err != nil {
			return err
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	ev := events.New(events.APIKeyRevoked, now, events.ActorOf(httpx.IdentityOf(ctx)), events.Resource{Type: "api_keys", ID: id},
		map[string]any{"id": id, "user_id": owner, "name": name, "revoked_at": now.UTC().Truncate(time.Microsecond)}).ForOwner(owner)
	if err := events.Append(ctx, d, tx.Tx, ev); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return s.publish(ctx, KindAPIKey, id)
}

// RotateAPIKey gives a key a new secret. The previous secret stays valid for
// GracePeriod; the one before it is dropped. Gateways are told through an
// api_key revocation event so they refetch the key; the owner's webhooks
// through an api_key.rotated domain event, written in the same transaction.
func (s *Service) RotateAPIKey(ctx context.Context, id string) (Created, error) {
	k, err := s.loadKey(ctx, id)
	if err != nil {
		return Created{}, err
	}
	if k.Status == StatusRevoked || k.Status == StatusExpired {
		return Created{}, ErrKeyInactive
	}
	secret, key, err := apikey.NewSecret(id)
	if err != nil {
		return Created{}, fmt.Errorf("generate secret: %w", err)
	}
	now := s.now()
	grace := now.Add(GracePeriod)
	d := s.db
	tx, err := d.Begin(ctx)
	if err != nil {
		return Created{}, fmt.Errorf("rotate key %s: %w", id, err)
	}
	defer tx.Rollback()
	// The version check makes concurrent rotations fail rather than lose a
	// secret that one caller was already handed.
	res, err := tx.ExecContext(ctx, d.Rebind(`UPDATE api_keys SET secret_hash = ?, grace_hash = ?, grace_until = ?, version = version + 1,
		last_rotated_at = ?, rotated_key_enc = ''
		WHERE id = ? AND version = ? AND revoked_at IS NULL`),
		apikey.Hash(secret), k.secretHash, db.Micros(grace), db.Micros(now), id, k.version)
	if err != nil {
		return Created{}, fmt.Errorf("rotate key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Created{}, fmt.Errorf("rotate key %s: %w", id, ErrConflict)
	}
	ev := events.New(events.APIKeyRotated, now, events.ActorOf(httpx.IdentityOf(ctx)), events.Resource{Type: "api_keys", ID: id},
		map[string]any{"id": id, "user_id": k.UserID, "name": k.Name, "expires_at": k.ExpiresAt,
			"previous_secret_valid_until": grace.UTC().Truncate(time.Microsecond)}).ForOwner(k.UserID)
	if err := events.Append(ctx, d, tx.Tx, ev); err != nil {
		return Created{}, err
	}
	if err := tx.Commit(); err != nil {
		return Created{}, fmt.Errorf("rotate key %s: %w", id, err)
	}
	if err := s.publish(ctx, KindAPIKey, id); err != nil {
		return Created{}, err
	}
	k, err = s.loadKey(ctx, id)
	if err != nil {
		return Created{}, err
	}
	return Created{KeyInfo: k.KeyInfo, Key: key}, nil
}
