package hubaudit

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// fakeStore is an idempotent sink that fails its first failures sends.
type fakeStore struct {
	mu       sync.Mutex
	failures int
	sends    int
	received int
	byID     map[string]auditchain.Record
	order    []string
}

func (f *fakeStore) Send(_ context.Context, recs [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	if f.failures > 0 {
		f.failures--
		return errors.New("store down")
	}
	for _, b := range recs {
		var r auditchain.Record
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		f.received++
		if _, dup := f.byID[r.EventID]; !dup {
			f.byID[r.EventID] = r
			f.order = append(f.order, r.EventID)
		}
	}
	return nil
}

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byID)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShipperRetriesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir, 4096)
	defer j.Close()
	appendN(t, j, 120)
	store := &fakeStore{failures: 6, byID: map[string]auditchain.Record{}}
	var mu sync.Mutex
	var sleeps []time.Duration
	errorsSeen := 0
	s := NewShipper(j, 50, 0, zap.NewNop())
	s.onError = func() { mu.Lock(); errorsSeen++; mu.Unlock() }
	s.sleep = func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		sleeps = append(sleeps, d)
		mu.Unlock()
		return ctx.Err() == nil
	}
	s.SetSink(store)
	s.Start()
	waitFor(t, "everything shipped", func() bool { return store.count() == 120 && j.Backlog() == 0 })
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	if errorsSeen != 6 {
		t.Fatalf("%d send errors counted, want 6", errorsSeen)
	}
	// Capped exponential backoff with ±20% jitter: each wait about doubles.
	for i := 1; i < 6; i++ {
		if sleeps[i] < sleeps[i-1] || sleeps[i] > maxBackoff*12/10 {
			t.Fatalf("backoff not growing: %v", sleeps[:6])
		}
	}
	if sleeps[0] < minBackoff*8/10 || sleeps[0] > minBackoff*12/10 {
		t.Fatalf("first backoff %v", sleeps[0])
	}
	// In order, one chain.
	recs := make([]auditchain.Record, 0, 120)
	for _, id := range store.order {
		recs = append(recs, store.byID[id])
	}
	checkChain(t, recs)
	// Shipped segments are deleted (the active one stays).
	segs, _ := j.segments()
	if len(segs) != 1 {
		t.Fatalf("%d segments left after shipping, want 1", len(segs))
	}
}

func TestShipperResendsAfterCrashIdempotently(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir, 1<<20)
	appendN(t, j, 30)
	store := &fakeStore{byID: map[string]auditchain.Record{}}
	s := NewShipper(j, 10, 0, zap.NewNop())
	s.SetSink(store)
	s.Start()
	waitFor(t, "shipped", func() bool { return store.count() == 30 })
	s.Stop()
	j.Close()
	// A crash right after the store accepted, before the position was saved.
	if err := os.Remove(filepath.Join(dir, cursorFile)); err != nil {
		t.Fatal(err)
	}
	j = openTest(t, dir, 1<<20)
	defer j.Close()
	if j.Backlog() != 30 {
		t.Fatalf("backlog after losing the position: %d, want 30", j.Backlog())
	}
	appendN(t, j, 5)
	s = NewShipper(j, 10, 0, zap.NewNop())
	s.SetSink(store)
	s.Start()
	waitFor(t, "shipped again", func() bool { return store.count() == 35 && j.Backlog() == 0 })
	s.Stop()
	if store.received < 65 {
		t.Fatalf("received %d, want the 30 again plus 5", store.received)
	}
	recs := make([]auditchain.Record, 0, 35)
	for _, id := range store.order {
		recs = append(recs, store.byID[id])
	}
	checkChain(t, recs)
}
