package hub

import (
	"sync"
	"time"
)

// ActiveKeysWindow is how far back active_api_keys looks.
const ActiveKeysWindow = time.Hour

// activeKeyPruneEvery is how often keys unseen for a window are dropped
// (and the gauge lowered) when no request comes to do it.
const activeKeyPruneEvery = time.Minute

// activeKeySet is the set behind the active_api_keys gauge: key id → last
// verification. It holds only key ids (public), never secrets, and at most
// one entry per valid key, since only verified keys are noted.
type activeKeySet struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	peak   int // most keys held since seen was made (see Shrunk)
	window time.Duration
	set    func(float64) // the gauge's Set
	start  sync.Once
}

func newActiveKeySet(window time.Duration, set func(float64)) *activeKeySet {
	return &activeKeySet{seen: make(map[string]time.Time), window: window, set: set}
}

// activeKeys is process-wide, like the gauge it feeds: resolvers of two
// configs alive during a reload must not each claim the gauge.
var activeKeys = newActiveKeySet(ActiveKeysWindow, func(v float64) { GetMetrics().ActiveAPIKeys.Set(v) })

// note records that keyID was verified at now. A key seen for the first
// time raises the gauge at once; lapsed keys are dropped by prune.
func (s *activeKeySet) note(keyID string, now time.Time) {
	s.mu.Lock()
	_, ok := s.seen[keyID]
	s.seen[keyID] = now
	if !ok {
		s.peak = max(s.peak, len(s.seen))
		s.set(float64(len(s.seen)))
	}
	s.mu.Unlock()
}

// prune drops the keys unseen for a window and updates the gauge.
func (s *activeKeySet) prune(now time.Time) {
	s.mu.Lock()
	s.pruneLocked(now)
	s.mu.Unlock()
}

func (s *activeKeySet) pruneLocked(now time.Time) {
	for id, t := range s.seen {
		if now.Sub(t) >= s.window {
			delete(s.seen, id)
		}
	}
	s.seen = shrinkTracked(s.seen, &s.peak)
	s.set(float64(len(s.seen)))
}

// len returns how many keys are active (for tests).
func (s *activeKeySet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// startPruning lowers the gauge once a minute for the life of the process
// (one goroutine, started by the first verified key).
func (s *activeKeySet) startPruning() {
	s.start.Do(func() {
		go func() {
			t := time.NewTicker(activeKeyPruneEvery)
			defer t.Stop()
			for now := range t.C {
				s.prune(now)
			}
		}()
	})
}

// noteActiveKey feeds active_api_keys; Resolver.noteUsage calls it for every
// verified key.
func noteActiveKey(keyID string, now time.Time) {
	activeKeys.startPruning()
	activeKeys.note(keyID, now)
}
