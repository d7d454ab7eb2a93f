package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// keyRefresh bounds how stale the in-memory key cache may get: an instance
// picks up a rotation made elsewhere (another instance, the CLI) within it.
const keyRefresh = 5 * time.Second

// jwksMargin keeps a retired key published past the lifetime of the last
// token it may have signed, covering clock skew and instances that signed
// with it until their cache refreshed.
const jwksMargin = 5 * time.Minute

// signingKey is one Ed25519 key of the signing_keys table.
type signingKey struct {
	kid     string
	priv    ed25519.PrivateKey
	created time.Time
	retired *time.Time
}

// keyRing caches the signing keys read from the database.
type keyRing struct {
	s   *Service
	ttl time.Duration // how long a load stays fresh; keyRefresh

	mu      sync.Mutex
	loaded  time.Time // wall-clock time of the last load; zero forces a reload
	all     []signingKey
	current *signingKey
}

// kidFor derives the kid from the public key: the RFC 7638 JWK thumbprint,
// so a kid names exactly one key.
func kidFor(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ensure loads the keys and creates the first one when the table is empty.
func (k *keyRing) ensure(ctx context.Context) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	k.mu.Lock()
	have := k.current != nil
	k.mu.Unlock()
	if have {
		return nil
	}
	return k.rotate(ctx)
}

// reload reads every signing key from the database.
func (k *keyRing) reload(ctx context.Context) error {
	rows, err := k.s.db.Query(ctx, `SELECT kid, private_key, created_at, retired_at FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	var all []signingKey
	for rows.Next() {
		var kid, seed string
		var created int64
		var retired *int64
		if err := rows.Scan(&kid, &seed, &created, &retired); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		raw, err := base64.StdEncoding.DecodeString(seed)
		if err != nil || len(raw) != ed25519.SeedSize {
			return fmt.Errorf("load signing key %s: malformed private key", kid)
		}
		sk := signingKey{kid: kid, priv: ed25519.NewKeyFromSeed(raw), created: db.FromMicros(created)}
		if retired != nil {
			t := db.FromMicros(*retired)
			sk.retired = &t
		}
		all = append(all, sk)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	var current *signingKey
	for i := range all {
		if all[i].retired == nil {
			current = &all[i] // ordered by created_at: the last active one wins
		}
	}
	k.mu.Lock()
	k.all, k.current, k.loaded = all, current, time.Now()
	k.mu.Unlock()
	return nil
}

// snapshot returns the cached keys, reloading them when stale.
func (k *keyRing) snapshot(ctx context.Context) ([]signingKey, *signingKey, error) {
	k.mu.Lock()
	fresh := !k.loaded.IsZero() && time.Since(k.loaded) < k.ttl
	all, cur := k.all, k.current
	k.mu.Unlock()
	if fresh && cur != nil {
		return all, cur, nil
	}
	if err := k.reload(ctx); err != nil {
		if cur != nil {
			// Serve from the stale cache rather than fail logins while the
			// database hiccups; the next call retries.
			return all, cur, nil
		}
		return nil, nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current == nil {
		return nil, nil, fmt.Errorf("no active signing key")
	}
	return k.all, k.current, nil
}

// rotate creates a new key and retires every other one, in one transaction.
func (k *keyRing) rotate(ctx context.Context) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	kid := kidFor(pub)
	now := db.Micros(k.s.now())
	d := k.s.db
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rotate signing key: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, d.Rebind(`UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`), now); err != nil {
		return fmt.Errorf("retire signing keys: %w", err)
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO signing_keys (kid, private_key, created_at) VALUES (?, ?, ?)`),
		kid, base64.StdEncoding.EncodeToString(priv.Seed()), now); err != nil {
		return fmt.Errorf("insert signing key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rotate signing key: %w", err)
	}
	return k.reload(ctx)
}

// RotateSigningKey makes a new key sign every token from now on. The old key
// stays in the JWKS until the tokens it signed have expired, so no token is
// cut short and no process needs a restart: other instances pick the new key
// up within a few seconds.
func (s *Service) RotateSigningKey(ctx context.Context) error {
	return s.keys.rotate(ctx)
}

// publishedKeys returns the keys the JWKS lists: active ones and those
// retired less than TokenTTL + 5 minutes ago.
func (s *Service) publishedKeys(ctx context.Context) ([]signingKey, error) {
	all, _, err := s.keys.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := s.now().Add(-(s.o.TokenTTL + jwksMargin))
	out := make([]signingKey, 0, len(all))
	for _, k := range all {
		if k.retired == nil || k.retired.After(cutoff) {
			out = append(out, k)
		}
	}
	return out, nil
}
