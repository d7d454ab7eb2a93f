package hub

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// ResolverConfig configures identity resolution; see the App fields of the
// same names for the meaning and defaults.
type ResolverConfig struct {
	Upstream         string
	Secret           string
	Issuer           string
	Audience         string
	KeyCacheTTL      time.Duration
	NegativeCacheTTL time.Duration
	RevocationWait   time.Duration
	JWKSMinRefresh   time.Duration
	UsageInterval    time.Duration
}

// Resolver verifies API keys and JWTs. It is pooled (one per upstream and
// secret) so that a config reload keeps its caches and its revocation feed.
//
// Warm path: a key or token verified recently is checked in memory only;
// the revocation feed (long-polled) evicts revoked entries within a second.
type Resolver struct {
	cfg    ResolverConfig
	client *InternalClient
	log    *zap.Logger
	now    func() time.Time

	mu         sync.RWMutex
	keys       map[string]*keyEntry // by key id
	keysSwept  time.Time            // last scan for expired entries
	tombstones map[string]time.Time // key id -> time of its last revocation event
	revokedJTI map[string]time.Time // jti -> when it can be forgotten
	userCut    map[string]time.Time // user id -> credentials issued before are dead
	clientCut  map[string]time.Time // OAuth2 client id -> tokens issued before are dead
	jwks       map[string]jwkEntry  // kid -> key
	jwksAt     time.Time            // last JWKS fetch attempt
	feedOK     time.Time            // last successful revocation poll
	usage      map[string]time.Time // key id -> last use, not yet reported
	group      singleflight.Group

	// Peak sizes of the maps since they were made (see Shrunk).
	keysPeak, tombstonesPeak, revokedJTIPeak, clientCutPeak int
	// sweepTicks, when set before Start (tests), drives the timed sweep
	// instead of a ticker of resolverSweepEvery.
	sweepTicks <-chan time.Time
	sweeper    *Sweeper

	startOnce sync.Once
	stop      context.CancelFunc
	done      sync.WaitGroup
}

// NewResolver returns a resolver; Start begins its background work.
func NewResolver(cfg ResolverConfig, log *zap.Logger) *Resolver {
	if log == nil {
		log = zap.NewNop()
	}
	return &Resolver{
		cfg:        cfg,
		client:     NewInternalClient(cfg.Upstream, cfg.Secret),
		log:        log,
		now:        time.Now,
		keys:       make(map[string]*keyEntry),
		tombstones: make(map[string]time.Time),
		revokedJTI: make(map[string]time.Time),
		userCut:    make(map[string]time.Time),
		clientCut:  make(map[string]time.Time),
		jwks:       make(map[string]jwkEntry),
		usage:      make(map[string]time.Time),
	}
}

// Start launches the revocation feed, the usage reporter and the timed
// sweep of the caches, once.
func (r *Resolver) Start() {
	r.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		r.stop = cancel
		r.done.Add(2)
		go func() { defer r.done.Done(); r.followRevocations(ctx) }()
		go func() { defer r.done.Done(); r.reportUsage(ctx) }()
		if r.sweepTicks != nil {
			r.sweeper = SweepOn(r.sweepTicks, r.sweep)
		} else {
			r.sweeper = StartSweeper(resolverSweepEvery, r.sweep)
		}
	})
}

// Destruct stops the background work when the last config lets go; it
// flushes pending last-used times first.
func (r *Resolver) Destruct() error {
	if r.stop != nil {
		r.stop()
		r.done.Wait()
	}
	r.sweeper.Stop()
	return nil
}

// feedHealthy reports whether the revocation feed answered recently. While
// it does not, cached credentials are trusted for a short time only.
func (r *Resolver) feedHealthy(now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return now.Sub(r.feedOK) < feedStaleAfter
}

// feedStaleAfter is how long without a revocation poll before the cache is
// distrusted; cacheTTLFeedDown is the cache lifetime while it is.
const (
	feedStaleAfter   = 5 * time.Second
	cacheTTLFeedDown = 5 * time.Second
)

// cacheTTL is how long a verified entry is trusted now.
func (r *Resolver) cacheTTL(now time.Time) time.Duration {
	if r.feedHealthy(now) {
		return r.cfg.KeyCacheTTL
	}
	return cacheTTLFeedDown
}
