package hub

import (
	"sync"
	"time"
)

// Sweeper calls a function periodically in one goroutine, so that state
// with a lifetime (cache entries, counters, tombstones) is freed while the
// process is idle or only refusing requests, not just on the next write.
// The function reads its owner's injectable clock, not the tick's time.
type Sweeper struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartSweeper calls sweep every interval until Stop.
func StartSweeper(every time.Duration, sweep func()) *Sweeper {
	t := time.NewTicker(every)
	s := SweepOn(t.C, sweep)
	go func() { <-s.done; t.Stop() }()
	return s
}

// SweepOn calls sweep once for every value received from ticks, until Stop.
// Tests hand in their own channel: a send returns once the sweep has
// begun, and Stop returns once it has ended, so nothing has to sleep.
func SweepOn(ticks <-chan time.Time, sweep func()) *Sweeper {
	s := &Sweeper{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-ticks:
				sweep()
			}
		}
	}()
	return s
}

// Stop ends the sweeps and waits for one in progress. It may be called
// more than once, and on a nil Sweeper.
func (s *Sweeper) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// shrinkMin is the peak size below which a map is not worth rebuilding.
const shrinkMin = 256

// Shrunk returns a fresh copy of m (and true) when m holds under a quarter
// of peak, the most entries it held since it was made; otherwise m itself.
// Go maps never give back the buckets of deleted entries, so a map that
// once held a flood (unknown key ids, one-off rate-limit windows) would
// keep its peak memory for the life of the process. Callers reset their
// peak to len(m) after a rebuild.
func Shrunk[K comparable, V any](m map[K]V, peak int) (map[K]V, bool) {
	if peak < shrinkMin || len(m) > peak/4 {
		return m, false
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, true
}
