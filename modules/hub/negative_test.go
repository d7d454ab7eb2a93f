package hub

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// An unknown key id costs one introspection per NegativeCacheTTL, however
// often (and however concurrently) it is presented (issue 10, #8).
func TestResolverRemembersUnknownIDs(t *testing.T) {
	f := newUpstream(t)
	r := f.resolver(t)
	var mu sync.Mutex
	now := time.Now()
	r.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	key := "hbc_unknown00001_" + strings.Repeat("Q", 43)
	before := f.introspects.Load()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				if _, err := r.APIKey(context.Background(), key); !errors.Is(err, ErrUnknown) {
					t.Errorf("unknown key: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if n := f.introspects.Load() - before; n != 1 {
		t.Fatalf("200 lookups of one unknown id made %d introspections, want 1", n)
	}
	mu.Lock()
	now = now.Add(30 * time.Second) // NegativeCacheTTL of the fixture
	mu.Unlock()
	if _, err := r.APIKey(context.Background(), key); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
	if n := f.introspects.Load() - before; n != 2 {
		t.Fatalf("after NegativeCacheTTL: %d introspections, want 2", n)
	}
}
