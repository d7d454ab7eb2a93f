package hub

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// gcraScript decides one request against every window in a single atomic
// step. KEYS are the windows; ARGV holds, per window, the step (the
// emission interval × the request's cost) and the capacity in microseconds. Time is Redis's own (TIME), so gateway
// instances with skewed clocks still share one timeline. It returns
// {allowed, TAT−now of each window after the decision}.
//
// TATs are written with %.0f: Lua 5.1 would print a number above 1e14 in
// %.14g and lose microseconds. Since Redis 5, scripts replicate their
// effects, so calling TIME before writing is allowed.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local ok = 1
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '') or now
  if tat < now then tat = now end
  if tat + tonumber(ARGV[2*i-1]) - now > tonumber(ARGV[2*i]) then ok = 0 end
  tats[i] = tat
end
local out = {ok}
for i = 1, #KEYS do
  local tat = tats[i]
  if ok == 1 then
    tat = tat + tonumber(ARGV[2*i-1])
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
  end
  out[i+1] = tat - now
end
return out`)

// refundScript gives back one request's units of each window (KEYS, ARGV: steps).
// It undoes a consumption when windows of one request live in different
// Redis Cluster slots and a later slot refuses (see Allow).
var refundScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '')
  if tat then
    tat = tat - tonumber(ARGV[i])
    if tat <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
    end
  end
end
return 1`)

// peekScript reads TAT−now of each window (KEYS) without consuming: the
// state of windows a refused request never reached (see allow).
var peekScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '') or now
  if tat < now then tat = now end
  out[i] = tat - now
end
return out`)

// Allow implements Limiter with one script call. On Redis Cluster, windows
// whose keys carry different hash tags (a per-IP rule on an authenticated
// request) cannot be in one script: each slot group is decided in turn and
// the groups already admitted are refunded if a later one refuses. Between
// the two steps another request may see the briefly consumed unit, so such
// a request is exact per window but not atomic across partitions.
func (s *redisStore) Allow(ctx context.Context, ws []Window) (Decision, error) {
	_, cluster := s.c.(*redis.ClusterClient)
	return s.allow(ctx, ws, cluster)
}

// allow is Allow; split decides per hash tag as on a cluster (tests use it
// on a single Redis).
func (s *redisStore) allow(ctx context.Context, ws []Window, split bool) (Decision, error) {
	gs, err := compileWindows(ws)
	if err != nil {
		return Decision{}, err
	}
	groups := [][]int{allIndexes(len(ws))}
	if split {
		groups = groupByHashTag(ws, s.Key)
	}
	d := Decision{Allowed: true, Windows: make([]WindowState, len(ws))}
	used := make([]int64, len(ws)) // TAT−now of each window after the decision
	var admitted [][]int
	for k, g := range groups {
		ok, err := s.allowGroup(ctx, ws, gs, g, used)
		if err != nil {
			s.refund(ctx, ws, gs, admitted)
			return Decision{}, err
		}
		if !ok {
			d.Allowed = false
			s.refund(ctx, ws, gs, admitted)
			// Report what the memory store reports for a refusal: the
			// refunded windows without the unit, and the windows not
			// reached as they are, since one of them may make the client
			// wait longer (Retry-After is the longest wait). Best effort:
			// a failed read leaves them full.
			for _, a := range admitted {
				for _, i := range a {
					used[i] -= gs[i].step
				}
			}
			for _, rest := range groups[k+1:] {
				_ = s.peekGroup(ctx, ws, rest, used)
			}
			break
		}
		admitted = append(admitted, g)
	}
	for i := range ws {
		d.Windows[i] = gs[i].state(used[i])
	}
	return d, nil
}

// peekGroup reads TAT−now of the windows at idx into used.
func (s *redisStore) peekGroup(ctx context.Context, ws []Window, idx []int, used []int64) error {
	keys := make([]string, len(idx))
	for j, i := range idx {
		keys[j] = s.Key(ws[i].Key)
	}
	res, err := peekScript.Run(ctx, s.c, keys).Int64Slice()
	if err != nil {
		return fmt.Errorf("rate limit peek: %w", err)
	}
	if len(res) != len(idx) {
		return fmt.Errorf("rate limit peek: %d results for %d windows", len(res), len(idx))
	}
	for j, i := range idx {
		used[i] = res[j]
	}
	return nil
}

// allowGroup runs the script on the windows at idx and fills their TAT−now.
func (s *redisStore) allowGroup(ctx context.Context, ws []Window, gs []gcra, idx []int, used []int64) (bool, error) {
	keys := make([]string, len(idx))
	args := make([]any, 0, 2*len(idx))
	for j, i := range idx {
		keys[j] = s.Key(ws[i].Key)
		args = append(args, gs[i].step, gs[i].capacity)
	}
	res, err := gcraScript.Run(ctx, s.c, keys, args...).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("rate limit script: %w", err)
	}
	if len(res) != len(idx)+1 {
		return false, fmt.Errorf("rate limit script: %d results for %d windows", len(res), len(idx))
	}
	for j, i := range idx {
		used[i] = res[j+1]
	}
	return res[0] == 1, nil
}

// refund gives back the units taken by the admitted groups. It is best
// effort: a failure leaves at most one unit consumed too many.
func (s *redisStore) refund(ctx context.Context, ws []Window, gs []gcra, groups [][]int) {
	for _, g := range groups {
		keys := make([]string, len(g))
		args := make([]any, len(g))
		for j, i := range g {
			keys[j] = s.Key(ws[i].Key)
			args[j] = gs[i].step
		}
		_ = refundScript.Run(ctx, s.c, keys, args...).Err()
	}
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// groupByHashTag groups window indexes by the {hash tag} of their store
// keys (the whole key when it has none), in order of first appearance.
// The tag is taken from the key Redis sees, prefix included: Redis Cluster
// hashes the first {…} of the whole key, so a prefix holding braces (say
// "gw{" or "{}") moves or removes the window's own tag, and grouping by the
// unprefixed key would send keys of two slots to one script (CROSSSLOT).
// A prefix with a complete tag ("{hub}:") puts every key in one slot: one
// group, one atomic script, but no spreading over the cluster's masters
// (docs/deployment.md).
func groupByHashTag(ws []Window, key func(string) string) [][]int {
	var groups [][]int
	pos := map[string]int{}
	for i, w := range ws {
		tag := hashTag(key(w.Key))
		j, ok := pos[tag]
		if !ok {
			j = len(groups)
			pos[tag] = j
			groups = append(groups, nil)
		}
		groups[j] = append(groups[j], i)
	}
	return groups
}

// hashTag returns what Redis Cluster hashes for key: the part between the
// first { and the next } when it is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

var _ Limiter = (*redisStore)(nil)
