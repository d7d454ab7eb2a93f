package oauth

import (
	"sync"
	"time"
)

// throttle counts failed client authentications per client_id in fixed
// windows. Only registered client ids are counted, so the map is bounded by
// the number of clients; an attacker spraying random ids costs nothing.
//
// It is per upstream process: with N instances a client gets up to N times
// the limit, which still turns an online guess of a 256-bit secret from
// hopeless into more hopeless. The gateway's per-IP limit on POST
// /oauth/token (hub_rate_limit) is the first line.
type throttle struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	windows map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{max: max, window: window, windows: make(map[string]*failWindow)}
}

// blocked returns how long client must wait, or 0 when it may try.
func (t *throttle) blocked(client string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.windows[client]
	if !ok {
		return 0
	}
	end := w.start.Add(t.window)
	if !now.Before(end) {
		delete(t.windows, client)
		return 0
	}
	if w.n >= t.max {
		return end.Sub(now)
	}
	return 0
}

// fail records one failure.
func (t *throttle) fail(client string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.windows[client]
	if !ok || !now.Before(w.start.Add(t.window)) {
		w = &failWindow{start: now}
		t.windows[client] = w
	}
	w.n++
}
