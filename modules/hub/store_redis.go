package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// redisPool shares one client per URL across config reloads, so a reload
// keeps its connections (and every counter lives in Redis anyway).
var redisPool = caddy.NewUsagePool()

var errNotInteger = errors.New("hub store: value is not an integer")

// clusterStateReloadInterval is how old the client's map of Redis Cluster
// slots may grow before a request refreshes it (in the background).
// go-redis refreshes it on MOVED answers, but a killed master answers
// nothing: with go-redis's default (60 s) every key of its slots kept
// failing for up to a minute after its replica had taken over. Refreshing
// costs one CLUSTER SLOTS a second per gateway, and only while requests
// flow.
const clusterStateReloadInterval = time.Second

// RedisStore keeps the gateway's shared state in Redis, so that several
// gateway instances share limits, caches and counters.
//
//	store redis <url> {
//	    cluster
//	    prefix <prefix>
//	}
type RedisStore struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS.
	// Placeholders such as {env.HUB_REDIS_URL} are expanded.
	URL string `json:"url,omitempty"`
	// Cluster connects to a Redis Cluster; extra nodes may be given with
	// ?addr=host:port query parameters in URL.
	Cluster bool `json:"cluster,omitempty"`
	// Prefix is prepended to every key; default "hub:". On Redis Cluster
	// braces in it are allowed but count: Redis hashes the first {…} of
	// the whole key, so a prefix with a complete hash tag ("{hub}:") puts
	// every key in one slot (one master); keep it brace-free to spread.
	Prefix string `json:"prefix,omitempty"`

	client *redisStore
	key    string
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "hub.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// Provision creates (or reuses) the pooled client. go-redis dials lazily,
// so Provision never blocks on the network.
func (r *RedisStore) Provision(caddy.Context) error {
	url := caddy.NewReplacer().ReplaceKnown(r.URL, "")
	if url == "" {
		return errors.New("redis store: url is required")
	}
	if r.Prefix == "" {
		r.Prefix = "hub:"
	}
	r.key = fmt.Sprintf("redis|%t|%s|%s", r.Cluster, r.Prefix, url)
	v, _, err := redisPool.LoadOrNew(r.key, func() (caddy.Destructor, error) {
		return newRedisStore(url, r.Cluster, r.Prefix)
	})
	if err != nil {
		return err
	}
	r.client = v.(*redisStore)
	return nil
}

// Validate checks the URL syntax.
func (r *RedisStore) Validate() error {
	url := caddy.NewReplacer().ReplaceKnown(r.URL, "")
	if r.Cluster {
		_, err := redis.ParseClusterURL(url)
		return err
	}
	_, err := redis.ParseURL(url)
	return err
}

// Cleanup releases this config's reference to the pooled client.
func (r *RedisStore) Cleanup() error {
	if r.client == nil {
		return nil
	}
	_, err := redisPool.Delete(r.key)
	return err
}

// Store returns the store.
func (r *RedisStore) Store() Store { return r.client }

// redisStore implements Store on a go-redis universal client.
type redisStore struct {
	c      redis.UniversalClient
	prefix string
}

func newRedisStore(url string, cluster bool, prefix string) (*redisStore, error) {
	if cluster {
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis cluster url: %w", err)
		}
		o.DialTimeout = 2 * time.Second
		o.ReadTimeout = time.Second
		o.WriteTimeout = time.Second
		o.ClusterStateReloadInterval = clusterStateReloadInterval
		return &redisStore{c: redis.NewClusterClient(o), prefix: prefix}, nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	return &redisStore{c: redis.NewClient(o), prefix: prefix}, nil
}

// Client exposes the underlying client to policies that run their own
// atomic scripts (rate limiting); keys must go through Key.
func (s *redisStore) Client() redis.UniversalClient { return s.c }

// Key returns the namespaced Redis key.
func (s *redisStore) Key(k string) string { return s.prefix + k }

// Destruct closes the client when the last config lets go.
func (s *redisStore) Destruct() error { return s.c.Close() }

func (s *redisStore) Kind() string { return "redis" }

// Ping implements Store.
func (s *redisStore) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// Get implements Store.
func (s *redisStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.c.Get(ctx, s.Key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return b, err
}

// Set implements Store.
func (s *redisStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	return s.c.Set(ctx, s.Key(key), value, ttl).Err()
}

// SetNX implements Store.
func (s *redisStore) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		ttl = 0
	}
	return s.c.SetNX(ctx, s.Key(key), value, ttl).Result()
}

// incrScript adds to a counter and sets the expiry only when it creates the
// key, in one atomic step (INCRBY + PEXPIRE NX is not atomic across two calls).
// Creation is tested with EXISTS, not n == delta: an existing persistent key
// holding 0 must keep having no expiry, as in the memory store.
var incrScript = redis.NewScript(`
local created = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n`)

// Incr implements Store.
func (s *redisStore) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1 // Redis counts in milliseconds; never turn a tiny TTL into none
	}
	n, err := incrScript.Run(ctx, s.c, []string{s.Key(key)}, delta, ms).Int64()
	if err != nil && strings.Contains(err.Error(), "not an integer") {
		return 0, errNotInteger
	}
	return n, err
}

// Delete implements Store.
func (s *redisStore) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	// One DEL per key: on Redis Cluster keys may live in different slots.
	for _, k := range keys {
		if err := s.c.Del(ctx, s.Key(k)).Err(); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ caddy.Provisioner  = (*RedisStore)(nil)
	_ caddy.Validator    = (*RedisStore)(nil)
	_ caddy.CleanerUpper = (*RedisStore)(nil)
	_ StoreModule        = (*RedisStore)(nil)
	_ Store              = (*redisStore)(nil)
)
