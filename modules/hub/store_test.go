package hub

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// fakeClock is the shared injectable clock: tests of the memory store move
// time forward instead of sleeping.
type fakeClock = testutil.Clock

func newFakeClock() *fakeClock { return testutil.NewClock(time.Unix(1_750_000_000, 0)) }

// storeEnv is one backend under the conformance suite.
type storeEnv struct {
	store Store
	kind  string
	// ttl is a TTL short enough to watch expire.
	ttl time.Duration
	// expired lets ttl elapse and reports whether key is gone; on Redis it
	// polls, with slack, until the key disappears.
	expired func(t *testing.T, key string) bool
	// elapse lets clearly more than ttl pass, to show a key did not expire.
	elapse func()
}

// storeBackends returns a constructor for each backend; Redis is included
// only when HUB_TEST_REDIS_URL is set.
func storeBackends() map[string]func(t *testing.T) *storeEnv {
	return map[string]func(t *testing.T) *storeEnv{
		"memory": newMemoryEnv,
		"redis":  newRedisEnv,
	}
}

func newMemoryEnv(t *testing.T) *storeEnv {
	clock := newFakeClock()
	s := newMemStore(clock.Now)
	env := &storeEnv{store: s, kind: "memory", ttl: time.Minute}
	env.expired = func(t *testing.T, key string) bool {
		// Expiry is exclusive: a key is gone at its deadline, not after.
		clock.Add(env.ttl)
		_, err := s.Get(context.Background(), key)
		return errors.Is(err, ErrNotFound)
	}
	env.elapse = func() { clock.Add(10 * env.ttl) }
	return env
}

func newRedisEnv(t *testing.T) *storeEnv {
	url := redisURL(t)
	prefix := "hubtest:" + randomHex(t, 8) + ":"
	s, err := newRedisStore(url, false, prefix)
	if err != nil {
		t.Fatalf("newRedisStore(%q): %v", url, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("redis at %s unreachable: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := s.Client().Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Errorf("listing test keys: %v", err)
		}
		for _, k := range keys {
			if err := s.Client().Del(ctx, k).Err(); err != nil {
				t.Errorf("deleting %s: %v", k, err)
			}
		}
		_ = s.Destruct()
	})
	env := &storeEnv{store: s, kind: "redis", ttl: 100 * time.Millisecond}
	env.expired = func(t *testing.T, key string) bool {
		deadline := time.Now().Add(env.ttl + 2*time.Second)
		for time.Now().Before(deadline) {
			_, err := s.Get(context.Background(), key)
			if errors.Is(err, ErrNotFound) {
				return true
			}
			if err != nil {
				t.Fatalf("Get(%q): %v", key, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	env.elapse = func() { time.Sleep(3 * env.ttl) }
	return env
}

// redisURL returns HUB_TEST_REDIS_URL or skips the test.
func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("HUB_TEST_REDIS_URL")
	if url == "" {
		t.Skip("HUB_TEST_REDIS_URL is not set: skipping the Redis store tests (e.g. HUB_TEST_REDIS_URL=redis://127.0.0.1:6379/0)")
	}
	return url
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestStoreConformance runs the same suite against every backend, so a
// policy behaves alike on one node (memory) or many (Redis).
func TestStoreConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, env *storeEnv)
	}{
		{"KindAndPing", testKindAndPing},
		{"GetMissing", testGetMissing},
		{"SetGet", testSetGet},
		{"ValuesAreCopied", testValuesAreCopied},
		{"Overwrite", testOverwrite},
		{"TTLExpiry", testTTLExpiry},
		{"NoExpiry", testNoExpiry},
		{"SetNX", testSetNX},
		{"SetNXAfterExpiry", testSetNXAfterExpiry},
		{"IncrCreateAndAdd", testIncrCreateAndAdd},
		{"IncrTTLOnCreate", testIncrTTLOnCreate},
		{"IncrKeepsExpiry", testIncrKeepsExpiry},
		{"IncrKeepsNoExpiry", testIncrKeepsNoExpiry},
		{"IncrAfterExpiry", testIncrAfterExpiry},
		{"IncrNonInteger", testIncrNonInteger},
		{"Delete", testDelete},
		{"ConcurrentIncr", testConcurrentIncr},
		{"ConcurrentSetNX", testConcurrentSetNX},
	}
	for backend, newEnv := range storeBackends() {
		t.Run(backend, func(t *testing.T) {
			if backend == "redis" {
				redisURL(t) // skip once, not once per case
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, newEnv(t))
				})
			}
		})
	}
}

func mustGet(t *testing.T, s Store, key string) []byte {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func mustSet(t *testing.T, s Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustIncr(t *testing.T, s Store, key string, delta int64, ttl time.Duration) int64 {
	t.Helper()
	n, err := s.Incr(context.Background(), key, delta, ttl)
	if err != nil {
		t.Fatalf("Incr(%q, %d): %v", key, delta, err)
	}
	return n
}

func wantMissing(t *testing.T, s Store, key string) {
	t.Helper()
	if v, err := s.Get(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

func wantValue(t *testing.T, s Store, key, want string) {
	t.Helper()
	if got := mustGet(t, s, key); string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func testKindAndPing(t *testing.T, env *storeEnv) {
	if got := env.store.Kind(); got != env.kind {
		t.Fatalf("Kind() = %q, want %q", got, env.kind)
	}
	if err := env.store.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testGetMissing(t *testing.T, env *storeEnv) {
	wantMissing(t, env.store, "never-set")
}

func testSetGet(t *testing.T, env *storeEnv) {
	tests := []struct {
		name  string
		value []byte
	}{
		{"text", []byte("hello")},
		{"empty", []byte{}},
		{"binary", []byte{0, 0xff, '\r', '\n', 0x80}},
		{"integer-looking", []byte("42")},
		{"64 KiB", bytes.Repeat([]byte("x"), 64<<10)},
	}
	for _, tt := range tests {
		key := "setget:" + tt.name
		if err := env.store.Set(context.Background(), key, tt.value, 0); err != nil {
			t.Fatalf("%s: Set: %v", tt.name, err)
		}
		got := mustGet(t, env.store, key)
		if !bytes.Equal(got, tt.value) {
			t.Fatalf("%s: Get = %q, want %q", tt.name, got, tt.value)
		}
	}
}

func testValuesAreCopied(t *testing.T, env *storeEnv) {
	v := []byte("original")
	if err := env.store.Set(context.Background(), "copy", v, 0); err != nil {
		t.Fatal(err)
	}
	copy(v, "XXXXXXXX")
	got := mustGet(t, env.store, "copy")
	copy(got, "YYYYYYYY")
	wantValue(t, env.store, "copy", "original")
}

func testOverwrite(t *testing.T, env *storeEnv) {
	mustSet(t, env.store, "ow", "one", 0)
	mustSet(t, env.store, "ow", "two", 0)
	wantValue(t, env.store, "ow", "two")

	// Set replaces the expiry too: a TTL then none persists…
	mustSet(t, env.store, "ow-ttl-then-none", "a", env.ttl)
	mustSet(t, env.store, "ow-ttl-then-none", "b", 0)
	// …and none then a TTL expires.
	mustSet(t, env.store, "ow-none-then-ttl", "a", 0)
	mustSet(t, env.store, "ow-none-then-ttl", "b", env.ttl)
	if !env.expired(t, "ow-none-then-ttl") {
		t.Fatal("Set with a TTL over a persistent key did not expire")
	}
	wantValue(t, env.store, "ow-ttl-then-none", "b")
}

func testTTLExpiry(t *testing.T, env *storeEnv) {
	mustSet(t, env.store, "ttl", "v", env.ttl)
	wantValue(t, env.store, "ttl", "v")
	if !env.expired(t, "ttl") {
		t.Fatal("key with a TTL did not expire")
	}
	wantMissing(t, env.store, "ttl")
}

func testNoExpiry(t *testing.T, env *storeEnv) {
	mustSet(t, env.store, "zero", "v", 0)
	mustSet(t, env.store, "negative", "v", -time.Second)
	env.elapse()
	wantValue(t, env.store, "zero", "v")
	wantValue(t, env.store, "negative", "v")
}

func testSetNX(t *testing.T, env *storeEnv) {
	ctx := context.Background()
	ok, err := env.store.SetNX(ctx, "nx", []byte("first"), 0)
	if err != nil || !ok {
		t.Fatalf("SetNX on absent key = %v, %v; want true", ok, err)
	}
	ok, err = env.store.SetNX(ctx, "nx", []byte("second"), 0)
	if err != nil || ok {
		t.Fatalf("SetNX on present key = %v, %v; want false", ok, err)
	}
	wantValue(t, env.store, "nx", "first")

	if err := env.store.Delete(ctx, "nx"); err != nil {
		t.Fatal(err)
	}
	ok, err = env.store.SetNX(ctx, "nx", []byte("third"), 0)
	if err != nil || !ok {
		t.Fatalf("SetNX after Delete = %v, %v; want true", ok, err)
	}
	wantValue(t, env.store, "nx", "third")
}

func testSetNXAfterExpiry(t *testing.T, env *storeEnv) {
	ctx := context.Background()
	ok, err := env.store.SetNX(ctx, "nx-ttl", []byte("a"), env.ttl)
	if err != nil || !ok {
		t.Fatalf("SetNX = %v, %v; want true", ok, err)
	}
	if !env.expired(t, "nx-ttl") {
		t.Fatal("SetNX with a TTL did not expire")
	}
	ok, err = env.store.SetNX(ctx, "nx-ttl", []byte("b"), 0)
	if err != nil || !ok {
		t.Fatalf("SetNX on an expired key = %v, %v; want true", ok, err)
	}
	wantValue(t, env.store, "nx-ttl", "b")
}

func testIncrCreateAndAdd(t *testing.T, env *storeEnv) {
	steps := []struct {
		delta int64
		want  int64
	}{
		{5, 5},
		{1, 6},
		{-10, -4},
		{0, -4},
		{1 << 40, 1<<40 - 4},
	}
	for _, s := range steps {
		if got := mustIncr(t, env.store, "ctr", s.delta, 0); got != s.want {
			t.Fatalf("Incr(%d) = %d, want %d", s.delta, got, s.want)
		}
	}
	wantValue(t, env.store, "ctr", strconv.FormatInt(1<<40-4, 10))

	// A counter may start from a value written by Set.
	mustSet(t, env.store, "ctr-set", "41", 0)
	if got := mustIncr(t, env.store, "ctr-set", 1, 0); got != 42 {
		t.Fatalf("Incr over Set(41) = %d, want 42", got)
	}
	// A negative delta creates a negative counter.
	if got := mustIncr(t, env.store, "ctr-neg", -3, 0); got != -3 {
		t.Fatalf("Incr(-3) on absent key = %d, want -3", got)
	}
}

func testIncrTTLOnCreate(t *testing.T, env *storeEnv) {
	if got := mustIncr(t, env.store, "ctr-ttl", 1, env.ttl); got != 1 {
		t.Fatalf("Incr = %d, want 1", got)
	}
	if !env.expired(t, "ctr-ttl") {
		t.Fatal("counter created with a TTL did not expire")
	}
}

func testIncrKeepsExpiry(t *testing.T, env *storeEnv) {
	mustIncr(t, env.store, "ctr-keep", 1, env.ttl)
	// A later, longer TTL must not push the window out (fixed windows).
	if got := mustIncr(t, env.store, "ctr-keep", 1, time.Hour); got != 2 {
		t.Fatalf("second Incr = %d, want 2", got)
	}
	if !env.expired(t, "ctr-keep") {
		t.Fatal("Incr extended the expiry of an existing counter")
	}

	// The same holds for a key written by Set with a TTL.
	mustSet(t, env.store, "ctr-keep-set", "10", env.ttl)
	if got := mustIncr(t, env.store, "ctr-keep-set", 1, time.Hour); got != 11 {
		t.Fatalf("Incr over Set(10) = %d, want 11", got)
	}
	if !env.expired(t, "ctr-keep-set") {
		t.Fatal("Incr extended the expiry of a key set with a TTL")
	}
}

// testIncrKeepsNoExpiry: an existing key without expiry keeps none, even
// when the increment happens to land on the delta (value was 0).
func testIncrKeepsNoExpiry(t *testing.T, env *storeEnv) {
	mustSet(t, env.store, "ctr-zero", "0", 0)
	if got := mustIncr(t, env.store, "ctr-zero", 5, env.ttl); got != 5 {
		t.Fatalf("Incr over Set(0) = %d, want 5", got)
	}
	mustIncr(t, env.store, "ctr-back", 3, 0)
	mustIncr(t, env.store, "ctr-back", -3, 0)
	if got := mustIncr(t, env.store, "ctr-back", 2, env.ttl); got != 2 {
		t.Fatalf("Incr back from 0 = %d, want 2", got)
	}
	env.elapse()
	wantValue(t, env.store, "ctr-zero", "5")
	wantValue(t, env.store, "ctr-back", "2")
}

func testIncrAfterExpiry(t *testing.T, env *storeEnv) {
	mustIncr(t, env.store, "ctr-exp", 7, env.ttl)
	if !env.expired(t, "ctr-exp") {
		t.Fatal("counter did not expire")
	}
	if got := mustIncr(t, env.store, "ctr-exp", 1, env.ttl); got != 1 {
		t.Fatalf("Incr after expiry = %d, want 1 (a fresh counter)", got)
	}
	if !env.expired(t, "ctr-exp") {
		t.Fatal("recreated counter did not get the new TTL")
	}
}

func testIncrNonInteger(t *testing.T, env *storeEnv) {
	for _, v := range []string{"abc", "1.5", "", " 1", "99999999999999999999"} {
		key := "nonint:" + v
		mustSet(t, env.store, key, v, 0)
		if n, err := env.store.Incr(context.Background(), key, 1, 0); !errors.Is(err, errNotInteger) {
			t.Fatalf("Incr over %q = %d, %v; want errNotInteger", v, n, err)
		}
		wantValue(t, env.store, key, v)
	}
}

func testDelete(t *testing.T, env *storeEnv) {
	ctx := context.Background()
	for _, k := range []string{"d1", "d2", "d3", "keep"} {
		mustSet(t, env.store, k, "v", 0)
	}
	if err := env.store.Delete(ctx, "d1", "missing", "d2", "d3"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, k := range []string{"d1", "d2", "d3", "missing"} {
		wantMissing(t, env.store, k)
	}
	wantValue(t, env.store, "keep", "v")
	if err := env.store.Delete(ctx); err != nil {
		t.Fatalf("Delete(): %v", err)
	}
	if err := env.store.Delete(ctx, "missing"); err != nil {
		t.Fatalf("Delete(missing): %v", err)
	}
}

func testConcurrentIncr(t *testing.T, env *storeEnv) {
	const goroutines, perGoroutine = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; i++ {
				if _, err := env.store.Incr(context.Background(), "hot", 1, time.Hour); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Incr: %v", err)
	}
	wantValue(t, env.store, "hot", strconv.Itoa(goroutines*perGoroutine))
}

func testConcurrentSetNX(t *testing.T, env *storeEnv) {
	const goroutines = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := env.store.SetNX(context.Background(), "lock", []byte("x"), time.Hour)
			if err != nil {
				t.Errorf("SetNX: %v", err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d goroutines won SetNX, want exactly 1", winners)
	}
}

func TestMemoryStoreSweepsExpired(t *testing.T) {
	clock := newFakeClock()
	s := newMemStore(clock.Now)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if err := s.Set(ctx, "old"+strconv.Itoa(i), []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Second)
	// Writes to other keys trigger the periodic sweep.
	for i := 0; i < 1024; i++ {
		if err := s.Set(ctx, "live", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	n := len(s.entries)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d entries after the sweep, want 1", n)
	}
}

func TestMemoryStoreDestruct(t *testing.T) {
	s := newMemStore(time.Now)
	mustSet(t, s, "k", "v", 0)
	if err := s.Destruct(); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "k")
}

func TestRedisStoreUsesPrefix(t *testing.T) {
	env := newRedisEnv(t)
	s := env.store.(*redisStore)
	mustSet(t, s, "k", "v", 0)
	ctx := context.Background()
	if n, err := s.Client().Exists(ctx, s.Key("k")).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %s = %d, %v; want 1", s.Key("k"), n, err)
	}
	if !strings.HasPrefix(s.Key("k"), "hubtest:") {
		t.Fatalf("Key(k) = %q, want the configured prefix", s.Key("k"))
	}
	if n, err := s.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("unprefixed key k exists (%d, %v)", n, err)
	}
}

func TestNewRedisStoreBadURL(t *testing.T) {
	for _, tt := range []struct {
		url     string
		cluster bool
	}{
		{"http://127.0.0.1:6379", false},
		{"not a url", false},
		{"http://127.0.0.1:6379", true},
	} {
		if s, err := newRedisStore(tt.url, tt.cluster, "p:"); err == nil {
			_ = s.Destruct()
			t.Errorf("newRedisStore(%q, cluster=%v) succeeded, want an error", tt.url, tt.cluster)
		}
	}
}
