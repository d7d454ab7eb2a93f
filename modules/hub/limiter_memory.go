package hub

import (
	"context"
	"strconv"
	"time"
)

// Allow implements Limiter on the memory store: the same GCRA steps as the
// Redis script (limiter_redis.go), under the store's lock, so one decision
// is atomic. A window's TAT is kept as a decimal number of Unix
// microseconds that expires when TAT passes (an absent window is a full one).
func (s *memStore) Allow(_ context.Context, ws []Window) (Decision, error) {
	gs, err := compileWindows(ws)
	if err != nil {
		return Decision{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.now()
	now := t.UnixMicro()
	tats := make([]int64, len(ws))
	allowed := true
	for i, w := range ws {
		tat := now
		if e, ok := s.entries[w.Key]; ok && !s.expired(e, t) {
			// A value that is not a number (written by something else)
			// counts as a full window, as in the Redis script.
			if v, err := strconv.ParseInt(string(e.value), 10, 64); err == nil && v > now {
				tat = v
			}
		}
		if tat+gs[i].step-now > gs[i].capacity {
			allowed = false
		}
		tats[i] = tat
	}
	d := Decision{Allowed: allowed, Windows: make([]WindowState, len(ws))}
	for i, w := range ws {
		tat := tats[i]
		if allowed {
			tat += gs[i].step
			s.entries[w.Key] = memEntry{
				value:   strconv.AppendInt(nil, tat, 10),
				expires: t.Add(time.Duration(tat-now) * time.Microsecond),
			}
			s.sweepLocked()
		}
		d.Windows[i] = gs[i].state(tat - now)
	}
	return d, nil
}

var _ Limiter = (*memStore)(nil)
