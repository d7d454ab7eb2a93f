package hub

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
}

// memoryPool keeps memory stores alive across config reloads: a store lives
// as long as one loaded config references its name.
var memoryPool = caddy.NewUsagePool()

// MemoryStore keeps the gateway's shared state in this process. It is the
// default; several gateway instances need the Redis store instead.
//
//	store memory [<name>]
type MemoryStore struct {
	// Name separates independent memory stores in one process; default "default".
	Name string `json:"name,omitempty"`

	store *memStore
	key   string
}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "hub.stores.memory",
		New: func() caddy.Module { return new(MemoryStore) },
	}
}

// Provision takes (or creates) the pooled store.
func (m *MemoryStore) Provision(caddy.Context) error {
	if m.Name == "" {
		m.Name = "default"
	}
	m.key = "memory|" + m.Name
	v, _, err := memoryPool.LoadOrNew(m.key, func() (caddy.Destructor, error) {
		return newMemStore(time.Now), nil
	})
	if err != nil {
		return err
	}
	m.store = v.(*memStore)
	return nil
}

// Cleanup releases this config's reference to the pooled store.
func (m *MemoryStore) Cleanup() error {
	if m.store == nil {
		return nil
	}
	_, err := memoryPool.Delete(m.key)
	return err
}

// Store returns the store.
func (m *MemoryStore) Store() Store { return m.store }

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// memSweepEvery is how often the memory store drops expired entries even
// when nothing is written (idle, or a flood of refused requests).
const memSweepEvery = 10 * time.Second

// memStore is a map with lazy expiry, a sweep every 1024 writes and one
// every memSweepEvery (started by the hub app's Start).
type memStore struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memEntry
	writes  int
	peak    int // most entries held since entries was made (see Shrunk)

	startOnce sync.Once
	sweeper   *Sweeper
}

func newMemStore(now func() time.Time) *memStore {
	return &memStore{now: now, entries: make(map[string]memEntry)}
}

// startSweeping sweeps at each tick of ticks (nil: every memSweepEvery)
// until Destruct; only the first call counts.
func (s *memStore) startSweeping(ticks <-chan time.Time) {
	s.startOnce.Do(func() {
		var sw *Sweeper
		if ticks == nil {
			sw = StartSweeper(memSweepEvery, s.sweep)
		} else {
			sw = SweepOn(ticks, s.sweep)
		}
		s.mu.Lock()
		s.sweeper = sw
		s.mu.Unlock()
	})
}

// Destruct stops the sweeps and frees the entries when the last config
// lets go.
func (s *memStore) Destruct() error {
	s.mu.Lock()
	sw := s.sweeper
	s.mu.Unlock()
	sw.Stop()
	s.mu.Lock()
	s.entries = make(map[string]memEntry)
	s.peak = 0
	s.mu.Unlock()
	return nil
}

func (s *memStore) Kind() string               { return "memory" }
func (s *memStore) Ping(context.Context) error { return nil }
func (s *memStore) expired(e memEntry, t time.Time) bool {
	return !e.expires.IsZero() && !t.Before(e.expires)
}

func (s *memStore) deadline(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return s.now().Add(ttl)
}

// Get implements Store.
func (s *memStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || s.expired(e, s.now()) {
		return nil, ErrNotFound
	}
	return append([]byte(nil), e.value...), nil
}

// Set implements Store.
func (s *memStore) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[key] = memEntry{value: append([]byte(nil), value...), expires: s.deadline(ttl)}
	s.sweepLocked()
	return nil
}

// SetNX implements Store.
func (s *memStore) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && !s.expired(e, s.now()) {
		return false, nil
	}
	s.entries[key] = memEntry{value: append([]byte(nil), value...), expires: s.deadline(ttl)}
	s.sweepLocked()
	return true, nil
}

// Incr implements Store.
func (s *memStore) Incr(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	var n int64
	if ok && !s.expired(e, s.now()) {
		v, err := strconv.ParseInt(string(e.value), 10, 64)
		if err != nil {
			return 0, errNotInteger
		}
		n = v
	} else {
		e = memEntry{expires: s.deadline(ttl)}
	}
	n += delta
	e.value = []byte(strconv.FormatInt(n, 10))
	s.entries[key] = e
	s.sweepLocked()
	return n, nil
}

// Delete implements Store.
func (s *memStore) Delete(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.entries, k)
	}
	return nil
}

// sweepLocked runs after every write: it records the map's peak size and
// drops expired entries every 1024 writes, so a burst of writes cannot
// outrun the timed sweep.
func (s *memStore) sweepLocked() {
	s.peak = max(s.peak, len(s.entries))
	s.writes++
	if s.writes%1024 != 0 {
		return
	}
	s.dropExpiredLocked(s.now())
}

// sweep is the timed sweep (see startSweeping).
func (s *memStore) sweep() {
	s.mu.Lock()
	s.dropExpiredLocked(s.now())
	s.mu.Unlock()
}

// dropExpiredLocked deletes the entries expired at t, then rebuilds the
// map when that left it much smaller than it has been (see Shrunk).
func (s *memStore) dropExpiredLocked(t time.Time) {
	for k, e := range s.entries {
		if s.expired(e, t) {
			delete(s.entries, k)
		}
	}
	if m, rebuilt := Shrunk(s.entries, s.peak); rebuilt {
		s.entries, s.peak = m, len(m)
	}
}

var (
	_ caddy.Provisioner  = (*MemoryStore)(nil)
	_ caddy.CleanerUpper = (*MemoryStore)(nil)
	_ StoreModule        = (*MemoryStore)(nil)
	_ Store              = (*memStore)(nil)
)
