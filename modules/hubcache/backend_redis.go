package hubcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisClient is what the hub Redis store exposes for policies that need
// pipelines and scripts (hub.redisStore's Client and Key).
type redisClient interface {
	Client() redis.UniversalClient
	Key(k string) string
}

// redisBackend keeps entries and generations in Redis. A lookup is one
// EVALSHA: the script reads the entry, takes the tag list from its first
// line and MGETs the generations, so a hit costs one round trip.
type redisBackend struct {
	c      redis.UniversalClient
	key    func(string) string
	prefix string // key("") : the generation keys' common prefix
	// scripted is false on Redis Cluster, where a script may only touch
	// keys it declares (and generations live in other slots): lookups then
	// take two round trips.
	scripted bool
}

func newRedisBackend(rc redisClient) *redisBackend {
	c := rc.Client()
	_, cluster := c.(*redis.ClusterClient)
	return &redisBackend{c: c, key: rc.Key, prefix: rc.Key(genNS), scripted: !cluster}
}

// lookupScript: KEYS[1] entry; ARGV[1] generation key prefix, ARGV[2] n,
// ARGV[3..] n request tags. Returns {entry or "", tag, gen, tag, gen, …}
// for the request tags followed by the entry's own tags.
var lookupScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local names = {}
for i = 1, tonumber(ARGV[2]) do names[#names+1] = ARGV[2+i] end
if v then
  local nl = string.find(v, '\n', 1, true)
  if nl and nl > 1 then
    for t in string.gmatch(string.sub(v, 1, nl-1), '%S+') do names[#names+1] = t end
  end
end
local out = {v or ''}
if #names == 0 then return out end
local keys = {}
for i, t in ipairs(names) do keys[i] = ARGV[1] .. t end
local g = redis.call('MGET', unpack(keys))
for i, t in ipairs(names) do
  out[#out+1] = t
  out[#out+1] = g[i] or '-'
end
return out`)

func (b *redisBackend) lookup(ctx context.Context, key string, tags []string) ([]byte, map[string]string, error) {
	if !b.scripted {
		return b.lookupTwoTrips(ctx, key, tags)
	}
	args := make([]any, 0, len(tags)+2)
	args = append(args, b.prefix, len(tags))
	for _, t := range tags {
		args = append(args, t)
	}
	res, err := lookupScript.Run(ctx, b.c, []string{b.key(entryNS + key)}, args...).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("cache lookup: %w", err)
	}
	if len(res) == 0 || len(res)%2 != 1 {
		return nil, nil, errors.New("cache lookup: bad script answer")
	}
	var blob []byte
	if s, _ := res[0].(string); s != "" {
		blob = []byte(s)
	}
	g := make(map[string]string, len(res)/2)
	for i := 1; i+1 < len(res); i += 2 {
		t, _ := res[i].(string)
		v, _ := res[i+1].(string)
		g[t] = v
	}
	return blob, g, nil
}

// lookupTwoTrips is lookup without a script (Redis Cluster).
func (b *redisBackend) lookupTwoTrips(ctx context.Context, key string, tags []string) ([]byte, map[string]string, error) {
	blob, err := b.c.Get(ctx, b.key(entryNS+key)).Bytes()
	if errors.Is(err, redis.Nil) {
		blob, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cache lookup: %w", err)
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

// gens reads generations in one pipeline of GETs (an MGET would fail
// across Cluster slots; the pipeline is one round trip on a single node).
func (b *redisBackend) gens(ctx context.Context, tags []string) (map[string]string, error) {
	out := make(map[string]string, len(tags))
	if len(tags) == 0 {
		return out, nil
	}
	pipe := b.c.Pipeline()
	cmds := make([]*redis.StringCmd, len(tags))
	for i, t := range tags {
		cmds[i] = pipe.Get(ctx, b.key(genNS+t))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cache generations: %w", err)
	}
	for i, t := range tags {
		v, err := cmds[i].Result()
		switch {
		case errors.Is(err, redis.Nil):
			out[t] = noGen
		case err != nil:
			return nil, fmt.Errorf("cache generations: %w", err)
		default:
			out[t] = v
		}
	}
	return out, nil
}

func (b *redisBackend) put(ctx context.Context, key string, blob []byte, ttl time.Duration) error {
	if err := b.c.Set(ctx, b.key(entryNS+key), blob, ttl).Err(); err != nil {
		return fmt.Errorf("cache store: %w", err)
	}
	return nil
}

func (b *redisBackend) bump(ctx context.Context, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	pipe := b.c.Pipeline()
	for _, t := range tags {
		pipe.Set(ctx, b.key(genNS+t), newGen(), genTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cache invalidate: %w", err)
	}
	return nil
}
