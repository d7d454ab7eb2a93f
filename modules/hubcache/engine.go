package hubcache

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

// enginePool keeps one engine per store (and L1 size) across config
// reloads: the L1, the in-flight fills and the outage state live on.
var enginePool = caddy.NewUsagePool()

// storeRetry is how long the cache leaves an unreachable store alone
// before trying it again; meanwhile requests go straight to the upstream.
const storeRetry = time.Second

// maxPending bounds the invalidations remembered during a store outage.
const maxPending = 10000

// engine is the cache proper: the backend, the L1, the in-flight fills and
// the store's health. Handlers and the admin API share it.
type engine struct {
	b   backend
	l1  *l1
	log *zap.Logger
	now func() time.Time

	flightMu sync.Mutex
	flights  map[string]*flight
	// landed is when each key's last fill stored its entry (the entry's
	// stored time), so a request that read the stale entry just before a
	// background refresh landed does not start another (joinRefresh).
	// Bounded: cleared when it reaches maxLanded keys.
	landed map[string]time.Time

	sweepOnce sync.Once
	sweeper   *hub.Sweeper

	healthMu  sync.Mutex
	downUntil time.Time
	lastWarn  time.Time
	down      bool
	pending   map[string]struct{} // tags to bump once the store is back
}

func newEngine(b backend, maxItems int, maxBytes int64, log *zap.Logger) *engine {
	return &engine{
		b:       b,
		l1:      newL1(maxItems, maxBytes, func() { cacheMetrics().evictions.Inc() }),
		log:     log,
		now:     time.Now,
		flights: map[string]*flight{},
		pending: map[string]struct{}{},
	}
}

// l1SweepEvery is how often dead entries leave the L1.
const l1SweepEvery = time.Minute

// startSweeping sweeps the L1 at each tick of ticks (nil: every
// l1SweepEvery) until Destruct; only the first call counts.
func (g *engine) startSweeping(ticks <-chan time.Time) {
	g.sweepOnce.Do(func() {
		if ticks == nil {
			g.sweeper = hub.StartSweeper(l1SweepEvery, g.sweep)
		} else {
			g.sweeper = hub.SweepOn(ticks, g.sweep)
		}
	})
}

// sweep drops the L1 entries past their lifetime.
func (g *engine) sweep() {
	if n := g.l1.sweep(g.now()); n > 0 {
		g.log.Debug("cache entries past their lifetime dropped", zap.Int("entries", n))
	}
}

// Destruct implements caddy.Destructor: it stops the sweeps and empties
// the L1; the pooled store is released by the hub app.
func (g *engine) Destruct() error {
	g.sweepOnce.Do(func() {}) // no sweeper may start after this
	g.sweeper.Stop()
	g.l1.clear()
	return nil
}

// engineFor returns the pooled engine for a store.
func engineFor(s hub.Store, maxItems int, maxBytes int64, log *zap.Logger) (*engine, string, error) {
	key := fmt.Sprintf("%s|%p|%d|%d", s.Kind(), s, maxItems, maxBytes)
	v, _, err := enginePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newEngine(backendFor(s), maxItems, maxBytes, log), nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*engine), key, nil
}

// backendFor picks the backend for a store: scripts on Redis, plain calls
// elsewhere (entries only in the L1 on the memory store).
func backendFor(s hub.Store) backend {
	if rc, ok := s.(redisClient); ok {
		return newRedisBackend(rc)
	}
	return &storeBackend{s: s, keepEntries: s.Kind() != "memory"}
}

// available reports whether the store may be used now. After a failure it
// is left alone for storeRetry; the first call after that tries again.
func (g *engine) available() bool {
	g.healthMu.Lock()
	defer g.healthMu.Unlock()
	return !g.down || !g.now().Before(g.downUntil)
}

// failed records a store error: warn (at most every 10 s), count, and keep
// away from the store for storeRetry.
func (g *engine) failed(op string, err error) {
	cacheMetrics().storeErrors.WithLabelValues(op).Inc()
	g.healthMu.Lock()
	defer g.healthMu.Unlock()
	now := g.now()
	g.down = true
	g.downUntil = now.Add(storeRetry)
	if now.Sub(g.lastWarn) >= 10*time.Second {
		g.lastWarn = now
		g.log.Warn("cache store unreachable: requests go to the upstream uncached", zap.String("op", op), zap.Error(err))
	}
}

// succeeded records a working store. Coming back from an outage, it first
// applies the invalidations that could not be written and empties the L1
// (its entries may have missed invalidations); until that worked, the
// store stays "down".
func (g *engine) succeeded(ctx context.Context) bool {
	g.healthMu.Lock()
	if !g.down {
		g.healthMu.Unlock()
		return true
	}
	tags := make([]string, 0, len(g.pending))
	for t := range g.pending {
		tags = append(tags, t)
	}
	g.healthMu.Unlock()
	if err := g.b.bump(ctx, tags); err != nil {
		g.failed("invalidate", err)
		return false
	}
	g.healthMu.Lock()
	for _, t := range tags {
		delete(g.pending, t)
	}
	g.down = false
	g.healthMu.Unlock()
	g.l1.clear()
	g.log.Info("cache store reachable again", zap.Int("replayed_invalidations", len(tags)))
	return true
}

// invalidate bumps tags; on failure they are remembered and replayed when
// the store answers again.
func (g *engine) invalidate(ctx context.Context, tags []string) error {
	err := g.b.bump(ctx, tags)
	if err == nil {
		return nil
	}
	g.failed("invalidate", err)
	g.healthMu.Lock()
	for _, t := range tags {
		if len(g.pending) < maxPending {
			g.pending[t] = struct{}{}
		}
	}
	g.healthMu.Unlock()
	return err
}

// resolve finds the entry stored under key, from the L1 or the backend,
// with the current generations of tags and of the entry's tags.
func (g *engine) resolve(ctx context.Context, key string, tags []string) (*entry, map[string]string, error) {
	if e := g.l1.get(key); e != nil {
		gens, err := g.b.gens(ctx, union(tags, e.tags))
		return e, gens, err
	}
	blob, gens, err := g.b.lookup(ctx, key, tags)
	if err != nil || blob == nil {
		return nil, gens, err
	}
	e, err := decodeEntry(blob)
	if err != nil {
		return nil, gens, nil // an unreadable entry is a miss; the fill overwrites it
	}
	g.l1.add(key, e)
	return e, gens, nil
}

// union returns a followed by the elements of b not in a (an entry's tags
// begin with the request's, so this is usually a plus the custom tags).
func union(a, b []string) []string {
	out := append(make([]string, 0, len(a)+len(b)), a...)
	seen := make(map[string]bool, len(a))
	for _, t := range a {
		seen[t] = true
	}
	for _, t := range b {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// find looks a request up: the primary key, then, when the stored
// response varies, the key extended with the request's header values.
// The returned entry may be invalid or stale; the caller decides. key is
// the key the entry was found under.
func (g *engine) find(ctx context.Context, pk requestKey, h http.Header) (e *entry, key string, gens map[string]string, err error) {
	e, gens, err = g.resolve(ctx, pk.hash, pk.tags)
	if err != nil || e == nil || !e.marker {
		return e, pk.hash, gens, err
	}
	if !e.valid(gens) {
		return nil, pk.hash, gens, nil
	}
	vk := varyKey(pk, e.vary, h)
	e2, gens2, err := g.resolve(ctx, vk.hash, pk.tags)
	if err != nil {
		return nil, "", nil, err
	}
	for t, v := range gens2 {
		gens[t] = v
	}
	return e2, vk.hash, gens, nil
}

// store saves a filled entry under pk (and a Vary marker when it varies).
// gens are the generations of pk.tags read before the request was
// forwarded; the generations of the upstream's own tags are read now.
func (g *engine) store(ctx context.Context, pk requestKey, h http.Header, e *entry, gens map[string]string, custom []string) (string, error) {
	e.tags = append(append([]string(nil), pk.tags...), custom...)
	e.gens = make([]string, len(e.tags))
	if len(custom) > 0 {
		cg, err := g.b.gens(ctx, custom)
		if err != nil {
			return "", err
		}
		for t, v := range cg {
			gens[t] = v
		}
	}
	for i, t := range e.tags {
		v, ok := gens[t]
		if !ok {
			v = noGen
		}
		e.gens[i] = v
	}
	life := min(e.lifetime(), maxLifetime)
	key := pk.hash
	if len(e.vary) > 0 {
		m := &entry{marker: true, vary: e.vary, stored: e.stored, ttl: e.ttl, stale: e.stale,
			tags: e.tags[:len(pk.tags)], gens: e.gens[:len(pk.tags)], header: http.Header{}}
		if err := g.b.put(ctx, pk.hash, m.encode(), life); err != nil {
			return "", err
		}
		g.l1.add(pk.hash, m)
		key = varyKey(pk, e.vary, h).hash
	}
	if err := g.b.put(ctx, key, e.encode(), life); err != nil {
		return "", err
	}
	g.l1.add(key, e)
	return key, nil
}

// flight is one in-progress fill that concurrent misses wait for.
type flight struct {
	done chan struct{}
	e    *entry // the stored entry, nil when nothing was stored
	key  string // the key it was stored under (differs from the primary with Vary)
	// waiters counts the requests waiting (for tests and debugging).
	waiters atomic.Int32
}

// join returns the fill in progress for key, or starts one (leader true).
func (g *engine) join(key string) (*flight, bool) {
	g.flightMu.Lock()
	defer g.flightMu.Unlock()
	if f, ok := g.flights[key]; ok {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	g.flights[key] = f
	return f, true
}

// maxLanded bounds engine.landed.
const maxLanded = 10000

// joinRefresh is join for a background refresh of a stale entry stored at
// staleStored: no leader when a fill for key landed a newer entry since
// (the caller read the stale one just before it landed).
func (g *engine) joinRefresh(key string, staleStored time.Time) (*flight, bool) {
	g.flightMu.Lock()
	t, ok := g.landed[key]
	g.flightMu.Unlock()
	if ok && t.After(staleStored) {
		return nil, false
	}
	return g.join(key)
}

// land ends a fill and wakes its waiters.
func (g *engine) land(key string, f *flight, e *entry, storedKey string) {
	g.flightMu.Lock()
	delete(g.flights, key)
	if e != nil && storedKey != "" {
		if g.landed == nil || len(g.landed) >= maxLanded {
			g.landed = make(map[string]time.Time)
		}
		g.landed[key] = e.stored
	}
	g.flightMu.Unlock()
	f.e, f.key = e, storedKey
	close(f.done)
}
