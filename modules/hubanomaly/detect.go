package hubanomaly

import (
	"math"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
)

// Rule names: the label values of hub_anomalies_total and the rule column
// of the upstream's anomalies table.
// They are the contract's (contract.AnomalyRules): the upstream refuses
// any other.
const (
	RuleErrorRate  = contract.AnomalyErrorRate
	RuleSpike      = contract.AnomalySpike
	RuleScan       = contract.AnomalyScan
	RuleUserAgents = contract.AnomalyUserAgents
)

// ruleNames lists the rules in a fixed order (index = rule id in state).
var ruleNames = [...]string{RuleErrorRate, RuleSpike, RuleScan, RuleUserAgents}

const (
	idxErrorRate = iota
	idxSpike
	idxScan
	idxUserAgents
	numRules
)

// ringSlots is the number of buckets of the error-rate window: the window
// slides by window/12 (5 minutes for 1 h), which is precise enough for a
// ratio over an hour and keeps the state at 12 small counters.
const ringSlots = 12

// observation is what one finished request contributes.
type observation struct {
	at     time.Time
	status int
	path   uint64 // maphash of the request path (404 only)
	ua     uint64 // maphash of the User-Agent
}

// detection is one rule firing for one principal.
type detection struct {
	rule    string
	details map[string]any
}

// thresholds is the compiled rule configuration shared by every principal.
type thresholds struct {
	errorRate  *ErrorRateRule
	spike      *SpikeRule
	scan       *DistinctRule
	userAgents *DistinctRule
	cooldown   time.Duration
	// alpha is the EWMA weight of the newest minute, from spike.HalfLife.
	alpha float64
}

// bucket counts the requests of one slot of the error-rate window.
type bucket struct {
	n          int64 // slot number (time / slot width); stale when old
	total, bad int32
}

// distinctSet holds at most cap hashes with the time each was last seen.
// It answers "how many distinct values in the last window" exactly while
// the answer is below cap, and memory never exceeds cap entries: raw paths
// and user agents are never kept, only 64-bit keyed hashes.
type distinctSet struct {
	items []seen
}

type seen struct {
	h  uint64
	at int64 // unix nanoseconds
}

// add records h at now, forgets values older than window, and returns the
// number of distinct values left (at most limit).
func (s *distinctSet) add(h uint64, now int64, window time.Duration, limit int) int {
	cutoff := now - int64(window)
	kept := s.items[:0]
	found := false
	oldest := -1
	for _, it := range s.items {
		if it.at <= cutoff {
			continue
		}
		if it.h == h {
			it.at, found = now, true
		}
		kept = append(kept, it)
	}
	s.items = kept
	if !found {
		if len(s.items) >= limit {
			// Full: the oldest gives way, the count stays at limit.
			for i := range s.items {
				if oldest < 0 || s.items[i].at < s.items[oldest].at {
					oldest = i
				}
			}
			s.items[oldest] = seen{h, now}
		} else {
			s.items = append(s.items, seen{h, now})
		}
	}
	return len(s.items)
}

// state is everything known about one principal. It is guarded by the
// lock of its LRU shard.
type state struct {
	ring [ringSlots]bucket

	// Spike: requests of the current minute, the EWMA of the completed
	// minutes before it, and when the principal was first seen (warm-up).
	minute    int64
	count     float64
	baseline  float64
	weight    float64 // 1-(1-α)^minutes folded into baseline
	firstSeen int64

	paths distinctSet
	uas   distinctSet

	lastFired [numRules]int64 // unix nanoseconds, 0 = never

	// Block cache (block.go): a block known to this instance, and when the
	// store last said "not blocked".
	blockUntil  int64
	blockRule   string
	blockStatus int
	checkedAt   int64
}

// observe feeds one request into the windows and returns the rules that
// fire now (each at most once per cooldown).
func (st *state) observe(t *thresholds, o observation) []detection {
	now := o.at.UnixNano()
	var out []detection
	fire := func(idx int, details map[string]any) {
		if last := st.lastFired[idx]; last != 0 && now-last < int64(t.cooldown) {
			return
		}
		st.lastFired[idx] = now
		out = append(out, detection{rule: ruleNames[idx], details: details})
	}
	if r := t.errorRate; r != nil {
		if total, bad := st.countErrors(now, r, o.status); total >= int64(r.MinRequests) && float64(bad) > r.Ratio*float64(total) {
			fire(idxErrorRate, map[string]any{
				"requests": total, "errors_4xx": bad, "ratio": round3(float64(bad) / float64(total)),
				"threshold": r.Ratio, "window_seconds": int64(time.Duration(r.Window) / time.Second),
			})
		}
	}
	if r := t.spike; r != nil {
		if count, base, limit, ok := st.countMinute(now, r, t.alpha); ok && count > limit {
			fire(idxSpike, map[string]any{
				"requests_this_minute": int64(count), "baseline_per_minute": round3(base),
				"threshold": round3(limit), "factor": r.Factor, "floor": r.Floor,
			})
		}
	}
	if r := t.scan; r != nil && o.status == 404 {
		if n := st.paths.add(o.path, now, time.Duration(r.Window), r.Distinct); n >= r.Distinct {
			fire(idxScan, map[string]any{
				"distinct_404_paths": n, "threshold": r.Distinct, "window_seconds": int64(time.Duration(r.Window) / time.Second),
			})
		}
	}
	if r := t.userAgents; r != nil {
		if n := st.uas.add(o.ua, now, time.Duration(r.Window), r.Distinct); n >= r.Distinct {
			fire(idxUserAgents, map[string]any{
				"distinct_user_agents": n, "threshold": r.Distinct, "window_seconds": int64(time.Duration(r.Window) / time.Second),
			})
		}
	}
	return out
}

// countErrors adds the request to its slot and sums the window.
func (st *state) countErrors(now int64, r *ErrorRateRule, status int) (total, bad int64) {
	width := int64(time.Duration(r.Window)) / ringSlots
	n := now / width
	b := &st.ring[n%ringSlots]
	if b.n != n {
		*b = bucket{n: n}
	}
	b.total++
	if status >= 400 && status < 500 {
		b.bad++
	}
	for i := range st.ring {
		if s := st.ring[i]; s.n > n-ringSlots && s.n <= n {
			total += int64(s.total)
			bad += int64(s.bad)
		}
	}
	return total, bad
}

// countMinute adds the request to the current minute and returns the
// minute's count, the baseline (EWMA of the completed minutes, idle ones
// counting as zero), the spike threshold, and whether the warm-up is over.
// The current minute never feeds its own baseline, so a spike cannot
// raise the bar it is measured against until its minute has ended.
func (st *state) countMinute(now int64, r *SpikeRule, alpha float64) (count, base, limit float64, warm bool) {
	m := now / int64(time.Minute)
	switch {
	case st.firstSeen == 0:
		st.firstSeen, st.minute = now, m
	case m > st.minute:
		st.baseline = alpha*st.count + (1-alpha)*st.baseline
		st.weight = alpha + (1-alpha)*st.weight
		if gap := m - st.minute - 1; gap > 0 {
			decay := math.Pow(1-alpha, float64(min(gap, 1<<20)))
			st.baseline *= decay
			st.weight = 1 - (1-st.weight)*decay
		}
		st.minute, st.count = m, 0
	}
	st.count++
	// An EWMA started at zero underestimates the mean until it has seen
	// several half-lives; dividing by the weight accumulated so far
	// (1-(1-α)^minutes) removes that bias, so the warm-up can be short.
	if st.weight > 0 {
		base = st.baseline / st.weight
	}
	limit = r.Factor*base + float64(r.Floor)
	warm = now-st.firstSeen >= int64(time.Duration(r.Warmup))
	return st.count, base, limit, warm
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
