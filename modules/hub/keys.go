package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/contract"
	"go.uber.org/zap"
)

// keyEntry is a cached introspection result; rec nil means "no such key".
type keyEntry struct {
	// id is the key id, a copy owned by the cache: never a substring of a
	// presented key, which would keep the whole key, secret included, in
	// memory as long as the entry (see fetchKey).
	id      string
	rec     *contract.Introspection
	ident   *Identity
	fetched time.Time
	// afterMismatch marks an entry fetched because a secret did not match.
	afterMismatch bool
}

// APIKey verifies a whole key ("hbc_…") and returns its identity.
func (r *Resolver) APIKey(ctx context.Context, key string) (*Identity, error) {
	id, secret, err := apikey.Parse(key)
	if err != nil {
		return nil, ErrMalformed
	}
	now := r.now()
	e := r.cachedKey(id, now)
	// matched: the secret matched e.rec (hashed once per entry looked at,
	// so once on the warm path).
	matched := false
	switch {
	case e == nil:
		// Not cached: ask the upstream, once for all concurrent callers.
		if e, err = r.fetchKey(ctx, id, false); err != nil {
			return nil, err
		}
	case e.rec != nil:
		if matched = matchSecret(e.rec, secret, now); !matched && (!e.afterMismatch || now.Sub(e.fetched) > time.Second) {
			// The secret does not match: the key may have just been
			// rotated (the feed's event may still be on its way). Ask
			// again, but at most once a second per key id after a
			// mismatch, so wrong secrets cannot make the gateway hammer
			// the upstream.
			if e, err = r.fetchKey(ctx, id, true); err != nil {
				return nil, err
			}
			matched = false // a new entry: checked below
		}
	}
	if e.rec == nil {
		return nil, ErrUnknown
	}
	switch e.rec.Status {
	case "revoked":
		return nil, ErrRevoked
	case "expired":
		return nil, ErrExpired
	}
	if !e.rec.ExpiresAt.IsZero() && !now.Before(e.rec.ExpiresAt) {
		return nil, ErrExpired
	}
	if !matched && !matchSecret(e.rec, secret, now) {
		return nil, ErrUnknown
	}
	r.noteUsage(e.id, now)
	return e.ident, nil
}

// matchSecret compares the secret's hash with every still-valid stored hash
// in constant time (rotation leaves two valid during the grace period).
func matchSecret(rec *contract.Introspection, secret string, now time.Time) bool {
	ok := false
	for _, s := range rec.Secrets {
		if apikey.Match(secret, s.Hash) && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)) {
			ok = true
		}
	}
	return ok
}

func (r *Resolver) cachedKey(id string, now time.Time) *keyEntry {
	r.mu.RLock()
	e := r.keys[id]
	r.mu.RUnlock()
	if e == nil {
		return nil
	}
	ttl := r.cacheTTL(now)
	if e.rec == nil {
		ttl = min(ttl, r.cfg.NegativeCacheTTL)
	}
	if now.Sub(e.fetched) >= ttl {
		return nil
	}
	return e
}

// fetchKey introspects id at the upstream (coalesced per id) and caches the
// answer unless a revocation event for id arrived while it was in flight.
func (r *Resolver) fetchKey(ctx context.Context, id string, afterMismatch bool) (*keyEntry, error) {
	// id is a substring of the presented key (apikey.Parse): a map key or
	// an entry holding it would pin the whole key, secret included, in
	// memory. Everything kept past this request uses a copy.
	id = strings.Clone(id)
	v, err, _ := r.group.Do("key:"+id, func() (any, error) {
		started := r.now()
		cctx, cancel := withTimeout(ctx, 5*time.Second)
		defer cancel()
		var rec contract.Introspection
		resp, err := r.client.Do(cctx, InternalCall{Method: http.MethodPost, Path: contract.PathIntrospect,
			Body: contract.IntrospectRequest{KeyID: id}, Out: &rec, Idempotent: true})
		var e *keyEntry
		switch {
		case err != nil:
			r.log.Warn("api key introspection failed", zap.String("key_id", id), zap.Error(err))
			return r.staleKey(id)
		case resp.Status == http.StatusNotFound:
			e = &keyEntry{id: id, fetched: started, afterMismatch: afterMismatch}
		case resp.Status != http.StatusOK:
			r.log.Warn("api key introspection refused", zap.String("key_id", id), zap.Int("status", resp.Status))
			return r.staleKey(id)
		default:
			ident, err := identityFromRecord(&rec)
			if err != nil {
				r.log.Error("bad introspection record", zap.String("key_id", id), zap.Error(err))
				return nil, ErrUnavailable
			}
			e = &keyEntry{id: id, rec: &rec, ident: ident, fetched: started, afterMismatch: afterMismatch}
		}
		r.mu.Lock()
		if t, dead := r.tombstones[id]; !dead || t.Before(started) {
			r.keys[id] = e
		}
		r.sweepKeysLocked(started)
		r.mu.Unlock()
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*keyEntry), nil
}

// staleKey is the answer when the upstream cannot be asked: auth never fails
// open, so only an entry the revocation feed still vouches for is used.
func (r *Resolver) staleKey(id string) (*keyEntry, error) {
	now := r.now()
	r.mu.RLock()
	e := r.keys[id]
	r.mu.RUnlock()
	if e != nil && e.rec != nil && r.feedHealthy(now) && now.Sub(e.fetched) < r.cfg.KeyCacheTTL {
		return e, nil
	}
	return nil, ErrUnavailable
}

func identityFromRecord(rec *contract.Introspection) (*Identity, error) {
	id := &Identity{
		Subject:   rec.UserID,
		Role:      rec.Role,
		Method:    "api_key",
		KeyID:     rec.ID,
		Scopes:    rec.Scopes,
		RateLimit: rec.RateLimit,
		Expires:   rec.ExpiresAt,
	}
	for _, s := range rec.IPWhitelist {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ip_whitelist entry %q: %w", s, err)
		}
		id.IPAllow = append(id.IPAllow, p)
	}
	return id, nil
}

// parsePrefix accepts an address or a CIDR, IPv4 or IPv6. An IPv4-mapped
// prefix (::ffff:10.0.0.0/104) becomes its IPv4 form: client addresses are
// unmapped before matching, so a mapped prefix would never match.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// sweepKeysLocked runs after each introspection: it records the cache's
// peak size and drops dead entries at most once per NegativeCacheTTL (the
// timed sweep, resolver_sweep.go, does it when no introspection comes).
// r.mu must be held.
func (r *Resolver) sweepKeysLocked(now time.Time) {
	r.keysPeak = max(r.keysPeak, len(r.keys))
	every := r.cfg.NegativeCacheTTL
	if every <= 0 {
		every = time.Second
	}
	if now.Sub(r.keysSwept) < every {
		return
	}
	r.dropDeadKeysLocked(now)
}

// dropDeadKeysLocked drops the entries no lookup can use any more
// (negative ones past NegativeCacheTTL, others past KeyCacheTTL, see
// cachedKey and staleKey). Any client can make a negative entry with a
// well-formed key of an unknown id, so ignoring them is not enough: they
// must go. r.mu must be held.
func (r *Resolver) dropDeadKeysLocked(now time.Time) {
	r.keysSwept = now
	for id, e := range r.keys {
		ttl := r.cfg.KeyCacheTTL
		if e.rec == nil {
			ttl = min(ttl, r.cfg.NegativeCacheTTL)
		}
		if now.Sub(e.fetched) >= ttl {
			delete(r.keys, id)
		}
	}
}
