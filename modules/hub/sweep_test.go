package hub

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// mapID identifies a map's storage: it changes only when the map is rebuilt.
func mapID[K comparable, V any](m map[K]V) uintptr { return reflect.ValueOf(m).Pointer() }

// tick hands two ticks to a sweeper driven by ch: the second send returns
// only once the first sweep is over (the loop is back at its select).
func tick(ch chan time.Time) {
	ch <- time.Time{}
	ch <- time.Time{}
}

func TestSweeper(t *testing.T) {
	var n atomic.Int32
	ticks := make(chan time.Time)
	s := SweepOn(ticks, func() { n.Add(1) })
	tick(ticks)
	ticks <- time.Time{}
	s.Stop()
	s.Stop() // twice is fine
	if got := n.Load(); got != 3 {
		t.Fatalf("%d sweeps for 3 ticks", got)
	}
	var nilSweeper *Sweeper
	nilSweeper.Stop()
	// The real ticker stops with it.
	StartSweeper(time.Hour, func() {}).Stop()
}

func TestShrunk(t *testing.T) {
	m := map[int]int{}
	for i := range 1000 {
		m[i] = i
	}
	if _, ok := Shrunk(m, 1000); ok {
		t.Fatal("a full map was rebuilt")
	}
	for i := range 900 {
		delete(m, i)
	}
	if _, ok := Shrunk(m, 100); ok {
		t.Fatal("a map below shrinkMin at its peak was rebuilt")
	}
	out, ok := Shrunk(m, 1000)
	if !ok || mapID(out) == mapID(m) || !reflect.DeepEqual(out, m) {
		t.Fatalf("rebuilt %v, same storage %v, same contents %v", ok, mapID(out) == mapID(m), reflect.DeepEqual(out, m))
	}
}

// TestMemStoreTimedSweep: entries that expired are freed by the timed
// sweep even when nothing is written any more (an idle store, or one only
// refusing requests), and the map that held them is rebuilt.
func TestMemStoreTimedSweep(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_750_000_000, 0))
	s := newMemStore(clk.Now)
	ticks := make(chan time.Time)
	s.startSweeping(ticks)
	t.Cleanup(func() { _ = s.Destruct() })
	ctx := context.Background()
	const n = 5000
	for i := range n {
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Then a flood of refusals, which writes nothing (so the write-driven
	// sweep never runs).
	refused := 0
	for range 3000 {
		d, err := s.Allow(ctx, []Window{{Key: "rl", Limit: 1, Period: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			refused++
		}
	}
	if refused != 2999 {
		t.Fatalf("%d of 3000 refused, want all but the first", refused)
	}
	s.mu.Lock()
	before, id := len(s.entries), mapID(s.entries)
	s.mu.Unlock()
	if before != n+2 {
		t.Fatalf("%d entries before the sweep, want %d", before, n+2)
	}
	clk.Set(clk.Now().Add(2 * time.Hour))
	tick(ticks)
	s.mu.Lock()
	after, rebuilt := len(s.entries), mapID(s.entries) != id
	_, kept := s.entries["forever"]
	s.mu.Unlock()
	if after != 1 || !kept {
		t.Fatalf("%d entries after the sweep (forever kept: %v), want only the one without TTL", after, kept)
	}
	if !rebuilt {
		t.Fatal("the map was not rebuilt after the sweep emptied it")
	}
	if v, err := s.Get(ctx, "forever"); err != nil || string(v) != "v" {
		t.Fatalf("entry without TTL: %q %v", v, err)
	}
}

// TestResolverTimedSweep: after a flood of unknown key ids the resolver
// goes idle; its timed sweep (started by Start) frees the negative
// entries, tombstones, revoked jtis and client cuts once dead, and
// rebuilds the maps.
func TestResolverTimedSweep(t *testing.T) {
	f := newUpstream(t)
	clk := testutil.NewClock(time.Now())
	r := NewResolver(ResolverConfig{
		Upstream: f.srv.URL, Secret: testSecret, Issuer: DefaultIssuer, Audience: DefaultAudience,
		KeyCacheTTL: 5 * time.Minute, NegativeCacheTTL: 30 * time.Second, RevocationWait: time.Second,
		JWKSMinRefresh: time.Second, UsageInterval: time.Hour,
	}, zaptest.NewLogger(t))
	r.now = clk.Now
	ticks := make(chan time.Time)
	r.sweepTicks = ticks
	r.Start()
	t.Cleanup(func() { _ = r.Destruct() })
	// The feed's first answer resets the key cache: let it come first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.RLock()
		ok := !r.feedOK.IsZero()
		r.mu.RUnlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revocation feed never answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx := context.Background()
	const n = 300
	for i := range n {
		key := fmt.Sprintf("hbc_%012d_%s", i, strings.Repeat("a", 43))
		if _, err := r.APIKey(ctx, key); !errors.Is(err, ErrUnknown) {
			t.Fatalf("unknown key %d: %v", i, err)
		}
	}
	now := clk.Now()
	r.mu.Lock()
	for i := range n {
		id := fmt.Sprint("x", i)
		r.tombstones[id] = now
		r.revokedJTI[id] = now.Add(forgetRevokedFor)
		r.clientCut[id] = now
	}
	ids := []uintptr{mapID(r.keys), mapID(r.tombstones), mapID(r.revokedJTI), mapID(r.clientCut)}
	if len(r.keys) != n {
		t.Fatalf("%d negative entries, want %d", len(r.keys), n)
	}
	r.mu.Unlock()

	clk.Set(now.Add(forgetRevokedFor + time.Minute))
	tick(ticks)
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i, m := range []int{len(r.keys), len(r.tombstones), len(r.revokedJTI), len(r.clientCut)} {
		name := []string{"keys", "tombstones", "revokedJTI", "clientCut"}[i]
		if m != 0 {
			t.Errorf("%s: %d entries left after the sweep", name, m)
		}
		if now := []uintptr{mapID(r.keys), mapID(r.tombstones), mapID(r.revokedJTI), mapID(r.clientCut)}[i]; now == ids[i] {
			t.Errorf("%s: not rebuilt after the sweep emptied it", name)
		}
	}
}

// TestActiveKeySetShrinks: pruning a set that held many keys rebuilds it.
func TestActiveKeySetShrinks(t *testing.T) {
	t0 := time.Unix(1_750_000_000, 0)
	s := newActiveKeySet(time.Hour, func(float64) {})
	for i := range 1000 {
		s.note(fmt.Sprint("k", i), t0)
	}
	id := mapID(s.seen)
	s.prune(t0.Add(2 * time.Hour))
	if s.len() != 0 || mapID(s.seen) == id {
		t.Fatalf("after prune: %d keys, rebuilt %v", s.len(), mapID(s.seen) != id)
	}
}

// TestAppStartStartsSweeps: the hub app's Start starts the memory store's
// and the resolver's timed sweeps; Destruct stops them.
func TestAppStartStartsSweeps(t *testing.T) {
	ms := newMemStore(time.Now)
	r := NewResolver(ResolverConfig{Upstream: "http://127.0.0.1:1", RevocationWait: time.Second, UsageInterval: time.Hour}, nil)
	a := &App{store: ms, resolver: r, log: zaptest.NewLogger(t)}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	ms.mu.Lock()
	started := ms.sweeper != nil
	ms.mu.Unlock()
	if !started || r.sweeper == nil {
		t.Fatalf("sweeps started: store %v, resolver %v", started, r.sweeper != nil)
	}
	_ = r.Destruct()
	_ = ms.Destruct()
	for _, s := range []*Sweeper{ms.sweeper, r.sweeper} {
		select {
		case <-s.done:
		default:
			t.Fatal("a sweeper still runs after Destruct")
		}
	}
}
