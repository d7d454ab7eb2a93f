package auth

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// Throttle counts failures per key in fixed windows and tells callers how
// long a key must wait once it reached its limit. Memory is bounded: keys
// are stored as 128-bit salted hashes (never the email or client id
// itself), a window is forgotten once it ends, and at most Capacity windows
// are kept — when full, the window that started first is dropped.
//
// It is per process: with N upstream instances a key gets up to N times the
// limit (docs/auth.md). It is safe for concurrent use.
type Throttle struct {
	max      int
	window   time.Duration
	capacity int
	salt     [16]byte

	mu      sync.Mutex
	entries map[[16]byte]*list.Element
	// order holds *throttleEntry by window start, oldest first: expired
	// windows are at the front, and so is the one evicted when full.
	order   *list.List
	evicted uint64
}

type throttleEntry struct {
	key   [16]byte
	start time.Time
	n     int
}

// NewThrottle returns a Throttle allowing max failures per key in each
// window, remembering at most capacity keys (minimum 1).
func NewThrottle(max int, window time.Duration, capacity int) *Throttle {
	if capacity < 1 {
		capacity = 1
	}
	t := &Throttle{max: max, window: window, capacity: capacity,
		entries: make(map[[16]byte]*list.Element), order: list.New()}
	if _, err := rand.Read(t.salt[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return t
}

func (t *Throttle) hash(key string) [16]byte {
	h := sha256.New()
	h.Write(t.salt[:])
	h.Write([]byte(key))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// sweep drops the windows that ended before now. Called with mu held; each
// entry is visited once after its end, so the cost is amortised O(1).
func (t *Throttle) sweep(now time.Time) {
	for e := t.order.Front(); e != nil; e = t.order.Front() {
		te := e.Value.(*throttleEntry)
		if now.Before(te.start.Add(t.window)) {
			return
		}
		t.order.Remove(e)
		delete(t.entries, te.key)
	}
}

// Wait returns how long key must wait before its next attempt, 0 when it
// may try now.
func (t *Throttle) Wait(key string, now time.Time) time.Duration {
	k := t.hash(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	e, ok := t.entries[k]
	if !ok {
		return 0
	}
	te := e.Value.(*throttleEntry)
	end := te.start.Add(t.window)
	if te.n < t.max || !now.Before(end) {
		return 0
	}
	return end.Sub(now)
}

// Take is Wait and Fail in one step: when key may try, its attempt is
// counted as a failure before it runs (Forget it on success). Concurrent
// attempts are thus counted as they start, so a burst of parallel guesses
// gets no more than the limit.
func (t *Throttle) Take(key string, now time.Time) time.Duration {
	k := t.hash(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	if e, ok := t.entries[k]; ok {
		te := e.Value.(*throttleEntry)
		if end := te.start.Add(t.window); te.n >= t.max && now.Before(end) {
			return end.Sub(now)
		}
	}
	t.fail(k, now)
	return 0
}

// Fail records one failure of key at now.
func (t *Throttle) Fail(key string, now time.Time) {
	k := t.hash(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	t.fail(k, now)
}

// fail counts one failure; mu is held and expired windows swept.
func (t *Throttle) fail(k [16]byte, now time.Time) {
	if e, ok := t.entries[k]; ok {
		te := e.Value.(*throttleEntry)
		if now.Before(te.start.Add(t.window)) {
			te.n++
			return
		}
		te.start, te.n = now, 1
		t.order.MoveToBack(e)
		return
	}
	if len(t.entries) >= t.capacity {
		oldest := t.order.Front()
		t.order.Remove(oldest)
		delete(t.entries, oldest.Value.(*throttleEntry).key)
		t.evicted++
	}
	t.entries[k] = t.order.PushBack(&throttleEntry{key: k, start: now, n: 1})
}

// Forget clears key's failures (after a success).
func (t *Throttle) Forget(key string) {
	k := t.hash(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[k]; ok {
		t.order.Remove(e)
		delete(t.entries, k)
	}
}

// Len returns the number of windows held and how many were evicted early
// because the throttle was full.
func (t *Throttle) Len() (held int, evicted uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries), t.evicted
}
