package hubcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/hubchantier/hubgate/modules/hub"
)

// genTTL is how long a tag generation lives after its last change. Entries
// live at most maxLifetime < genTTL, so a generation can only disappear
// (turn back into noGen) once every entry that could match noGen is gone.
const (
	genTTL      = 25 * time.Hour
	maxLifetime = 24 * time.Hour
)

// Store key namespaces (under the hub store's own prefix).
const (
	entryNS = "cache:e:"
	genNS   = "cache:g:"
)

// backend is where entries and tag generations live.
type backend interface {
	// lookup returns the encoded entry at key (nil when absent) and the
	// current generations of tags and of the tags listed in the entry, in
	// one round trip where the backend allows it.
	lookup(ctx context.Context, key string, tags []string) ([]byte, map[string]string, error)
	// gens returns the current generations of tags.
	gens(ctx context.Context, tags []string) (map[string]string, error)
	// put stores an encoded entry for ttl.
	put(ctx context.Context, key string, blob []byte, ttl time.Duration) error
	// bump gives each tag a new generation, invalidating every entry
	// filled before.
	bump(ctx context.Context, tags []string) error
}

// newGen returns a fresh generation: random, so that a generation never
// comes back to a value an old entry recorded.
func newGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// storeBackend works on any hub.Store with one call per key. On the memory
// store it keeps only generations (entries live in the bounded L1, so the
// unbounded map never holds bodies).
type storeBackend struct {
	s           hub.Store
	keepEntries bool
}

func (b *storeBackend) lookup(ctx context.Context, key string, tags []string) ([]byte, map[string]string, error) {
	var blob []byte
	if b.keepEntries {
		v, err := b.s.Get(ctx, entryNS+key)
		if err != nil && !errors.Is(err, hub.ErrNotFound) {
			return nil, nil, err
		}
		blob = v
	}
	all := tags
	if blob != nil {
		if e, err := decodeEntry(blob); err == nil {
			all = append(append([]string(nil), tags...), e.tags...)
		}
	}
	g, err := b.gens(ctx, all)
	return blob, g, err
}

func (b *storeBackend) gens(ctx context.Context, tags []string) (map[string]string, error) {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		if _, ok := out[t]; ok {
			continue
		}
		v, err := b.s.Get(ctx, genNS+t)
		switch {
		case errors.Is(err, hub.ErrNotFound):
			out[t] = noGen
		case err != nil:
			return nil, err
		default:
			out[t] = string(v)
		}
	}
	return out, nil
}

func (b *storeBackend) put(ctx context.Context, key string, blob []byte, ttl time.Duration) error {
	if !b.keepEntries {
		return nil
	}
	return b.s.Set(ctx, entryNS+key, blob, ttl)
}

func (b *storeBackend) bump(ctx context.Context, tags []string) error {
	for _, t := range tags {
		if err := b.s.Set(ctx, genNS+t, []byte(newGen()), genTTL); err != nil {
			return err
		}
	}
	return nil
}
