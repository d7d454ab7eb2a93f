package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// Scheduled rotation (docs/auth.md, "Scheduled rotation"). The daily job
// calls RotateDue:
//
//   - a key with auto_rotate is rotated once rotation_interval_days have
//     passed since its creation or last rotation, or when it would expire
//     within ExpiringNotice: the previous secret stays valid for
//     GracePeriod, the key's lifetime is extended to now +
//     rotation_interval_days, and the owner is told by api_key.rotated
//     (never carrying the secret). The new key is kept sealed
//     (AES-256-GCM, key derived from HUB_GATEWAY_SECRET) until the owner
//     claims it, once, with POST /api/auth/api-keys/{id}/claim, and is
//     dropped when claimed or when the key rotates again;
//   - a key without auto_rotate that expires within ExpiringNotice emits
//     api_key.expiring once.

// dayMicros is a day in the stored unit.
const dayMicros = int64(24 * time.Hour / time.Microsecond)

// RotateDue runs the scheduled rotation at now: it returns how many keys
// it rotated and how many expiry notices it emitted.
func (s *Service) RotateDue(ctx context.Context) (rotated, notified int, err error) {
	now := s.now()
	us := db.Micros(now)
	rows, err := s.db.Query(ctx, `SELECT id FROM api_keys WHERE auto_rotate = TRUE AND revoked_at IS NULL AND expires_at > ?
		AND (COALESCE(last_rotated_at, created_at) + rotation_interval_days * CAST(? AS BIGINT) <= ? OR expires_at <= ?) ORDER BY id`,
		us, dayMicros, us, db.Micros(now.Add(ExpiringNotice)))
	if err != nil {
		return 0, 0, err
	}
	var due []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, 0, err
		}
		due = append(due, id)
	}
	rows.Close()
	var errs []error
	for _, id := range due {
		if err := s.rotateScheduled(ctx, id, now); err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, err)
			continue
		}
		rotated++
	}
	n, err := s.notifyExpiring(ctx, now)
	return rotated, n, errors.Join(append(errs, err)...)
}

// rotateScheduled rotates key id for the scheduler, keeping the new key
// sealed for its owner.
func (s *Service) rotateScheduled(ctx context.Context, id string, now time.Time) error {
	k, err := s.loadKey(ctx, id)
	if err != nil {
		return err
	}
	secret, key, err := apikey.NewSecret(id)
	if err != nil {
		return fmt.Errorf("generate secret: %w", err)
	}
	sealed, err := s.sealPickup(id, key)
	if err != nil {
		return err
	}
	grace := now.Add(GracePeriod)
	expires := k.ExpiresAt
	if e := now.Add(time.Duration(k.RotationIntervalDays) * 24 * time.Hour); e.After(expires) {
		expires = e
	}
	d := s.db
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, d.Rebind(`UPDATE api_keys SET secret_hash = ?, grace_hash = ?, grace_until = ?, expires_at = ?,
		last_rotated_at = ?, rotated_key_enc = ?, expiring_notified_at = NULL, version = version + 1
		WHERE id = ? AND version = ? AND revoked_at IS NULL`),
		apikey.Hash(secret), k.secretHash, db.Micros(grace), db.Micros(expires), db.Micros(now), sealed, id, k.version)
	if err != nil {
		return fmt.Errorf("rotate key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict // rotated or revoked meanwhile: next run
	}
	ev := events.New(events.APIKeyRotated, now, events.System, events.Resource{Type: "api_keys", ID: id},
		map[string]any{"id": id, "user_id": k.UserID, "name": k.Name, "expires_at": expires.UTC(),
			"previous_secret_valid_until": grace.UTC().Truncate(time.Microsecond)}).ForOwner(k.UserID)
	if err := events.Append(ctx, d, tx, ev); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return s.publish(ctx, KindAPIKey, id)
}

// notifyExpiring emits api_key.expiring once per key without auto_rotate
// that expires within ExpiringNotice.
func (s *Service) notifyExpiring(ctx context.Context, now time.Time) (int, error) {
	us := db.Micros(now)
	rows, err := s.db.Query(ctx, `SELECT id, user_id, name, expires_at FROM api_keys WHERE auto_rotate = FALSE
		AND revoked_at IS NULL AND expiring_notified_at IS NULL AND expires_at > ? AND expires_at <= ? ORDER BY id`,
		us, db.Micros(now.Add(ExpiringNotice)))
	if err != nil {
		return 0, err
	}
	type row struct {
		id, name string
		user     int64
		expires  int64
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.user, &r.name, &r.expires); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, r)
	}
	rows.Close()
	n := 0
	for _, r := range list {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return n, err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE api_keys SET expiring_notified_at = ? WHERE id = ? AND expiring_notified_at IS NULL`), us, r.id)
		if err != nil {
			tx.Rollback()
			return n, err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			exp := db.FromMicros(r.expires)
			ev := events.New(events.APIKeyExpiring, now, events.System, events.Resource{Type: "api_keys", ID: r.id},
				map[string]any{"id": r.id, "user_id": r.user, "name": r.name, "expires_at": exp,
					"days_left": int(exp.Sub(now).Hours() / 24)}).ForOwner(r.user)
			if err := events.Append(ctx, s.db, tx, ev); err != nil {
				tx.Rollback()
				return n, err
			}
			n++
		}
		if err := tx.Commit(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// pickupAEAD is the cipher of keys waiting to be claimed: AES-256-GCM
// under a key derived from the gateway secret (like webhook secrets).
func (s *Service) pickupAEAD() (cipher.AEAD, error) {
	if len(s.o.GatewaySecret) == 0 {
		return nil, errors.New("auth: no gateway secret to seal rotated keys")
	}
	m := hmac.New(sha256.New, s.o.GatewaySecret)
	m.Write([]byte("hubchantier/api-key-pickup"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s *Service) sealPickup(id, key string) (string, error) {
	a, err := s.pickupAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return "v1:" + base64.StdEncoding.EncodeToString(a.Seal(nonce, nonce, []byte(key), []byte(id))), nil
}

func (s *Service) openPickup(id, enc string) (string, error) {
	a, err := s.pickupAEAD()
	if err != nil {
		return "", err
	}
	raw, ok := strings.CutPrefix(enc, "v1:")
	b, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(b) < a.NonceSize() {
		return "", errors.New("malformed sealed key")
	}
	n := a.NonceSize()
	plain, err := a.Open(nil, b[:n], b[n:], []byte(id))
	if err != nil {
		return "", errors.New("the sealed key does not open (was HUB_GATEWAY_SECRET changed?)")
	}
	return string(plain), nil
}

// ErrNothingToClaim is a claim of a key that has no rotated key waiting.
var ErrNothingToClaim = errors.New("no automatically rotated key is waiting to be claimed")

// ClaimRotatedKey hands the key minted by the last automatic rotation of
// id to its owner, once.
func (s *Service) ClaimRotatedKey(ctx context.Context, id string) (Created, error) {
	k, err := s.loadKey(ctx, id)
	if err != nil {
		return Created{}, err
	}
	if k.rotatedEnc == "" || k.Status == StatusRevoked {
		return Created{}, ErrNothingToClaim
	}
	key, err := s.openPickup(id, k.rotatedEnc)
	if err != nil {
		return Created{}, err
	}
	res, err := s.db.Exec(ctx, `UPDATE api_keys SET rotated_key_enc = '' WHERE id = ? AND rotated_key_enc = ?`, id, k.rotatedEnc)
	if err != nil {
		return Created{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Created{}, ErrNothingToClaim // claimed concurrently
	}
	k, err = s.loadKey(ctx, id)
	if err != nil {
		return Created{}, err
	}
	return Created{KeyInfo: k.KeyInfo, Key: key}, nil
}

// handleClaimKey serves POST /api/auth/api-keys/{id}/claim: the owner (a
// user session, as for rotate) gets the automatically rotated key once.
func (s *Service) handleClaimKey(w http.ResponseWriter, r *http.Request) {
	c := requireJWTUser(w, r)
	if c == nil {
		return
	}
	id, ok := s.ownKey(w, r, c)
	if !ok {
		return
	}
	k, err := s.ClaimRotatedKey(r.Context(), id)
	if errors.Is(err, ErrNothingToClaim) {
		httpx.Problem(w, r, problem.New(http.StatusConflict, "nothing-to-claim", "Conflict", err.Error()))
		return
	}
	s.writeCreated(w, r, http.StatusOK)(k, err)
}
