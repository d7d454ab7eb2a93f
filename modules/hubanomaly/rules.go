package hubanomaly

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Rule defaults. They are meant to stay quiet on well-behaved integrations
// (docs/anomalies.md explains each choice) and to be tuned per deployment.
const (
	DefaultErrorRatio       = 0.5
	DefaultErrorWindow      = time.Hour
	DefaultErrorMinRequests = 50
	DefaultSpikeFactor      = 5
	DefaultSpikeFloor       = 60
	DefaultSpikeWarmup      = 30 * time.Minute
	DefaultSpikeHalfLife    = 30 * time.Minute
	DefaultScanDistinct     = 20
	DefaultScanWindow       = 10 * time.Minute
	DefaultUADistinct       = 10
	DefaultUAWindow         = time.Hour
	DefaultBlockStatus      = http.StatusTooManyRequests
)

func setDuration(d *caddy.Duration, v time.Duration) {
	if *d <= 0 {
		*d = caddy.Duration(v)
	}
}

func setDefaults(e *ErrorRateRule, s *SpikeRule, scan, ua *DistinctRule) {
	if e.Ratio == 0 {
		e.Ratio = DefaultErrorRatio
	}
	setDuration(&e.Window, DefaultErrorWindow)
	if e.MinRequests == 0 {
		e.MinRequests = DefaultErrorMinRequests
	}
	if s.Factor == 0 {
		s.Factor = DefaultSpikeFactor
	}
	if s.Floor == 0 {
		s.Floor = DefaultSpikeFloor
	}
	setDuration(&s.Warmup, DefaultSpikeWarmup)
	setDuration(&s.HalfLife, DefaultSpikeHalfLife)
	if scan.Distinct == 0 {
		scan.Distinct = DefaultScanDistinct
	}
	setDuration(&scan.Window, DefaultScanWindow)
	if ua.Distinct == 0 {
		ua.Distinct = DefaultUADistinct
	}
	setDuration(&ua.Window, DefaultUAWindow)
	for _, a := range []*Action{&e.Action, &s.Action, &scan.Action, &ua.Action} {
		if a.BlockStatus == 0 {
			a.BlockStatus = DefaultBlockStatus
		}
	}
}

// validateRules checks values after defaults; messages name the option.
func (h *Handler) validateRules() error {
	e, s := h.ErrorRate, h.Spike
	switch {
	case e.Ratio <= 0 || e.Ratio >= 1:
		return fmt.Errorf("hub_anomaly: error_rate ratio %v: want a number between 0 and 1 (exclusive)", e.Ratio)
	case e.MinRequests < 1:
		return fmt.Errorf("hub_anomaly: error_rate min %d: want at least 1", e.MinRequests)
	case time.Duration(e.Window) < ringSlots*time.Second:
		return fmt.Errorf("hub_anomaly: error_rate window %s: want at least 12s", time.Duration(e.Window))
	case s.Factor < 1 || math.IsInf(s.Factor, 0) || math.IsNaN(s.Factor):
		return fmt.Errorf("hub_anomaly: spike factor %v: want at least 1", s.Factor)
	case s.Floor < 1:
		return fmt.Errorf("hub_anomaly: spike floor %d: want at least 1 request per minute", s.Floor)
	case time.Duration(s.HalfLife) < time.Minute:
		return fmt.Errorf("hub_anomaly: spike half_life %s: want at least 1m", time.Duration(s.HalfLife))
	}
	for _, r := range []struct {
		name string
		r    *DistinctRule
	}{{"scan", h.Scan}, {"user_agents", h.UserAgents}} {
		if r.r.Distinct < 2 || r.r.Distinct > maxDistinct {
			return fmt.Errorf("hub_anomaly: %s %d: want between 2 and %d distinct values", r.name, r.r.Distinct, maxDistinct)
		}
	}
	for i, a := range []*Action{&e.Action, &s.Action, &h.Scan.Action, &h.UserAgents.Action} {
		if a.BlockStatus != http.StatusTooManyRequests && a.BlockStatus != http.StatusForbidden {
			return fmt.Errorf("hub_anomaly: block %s status %d: want 429 or 403", ruleNames[i], a.BlockStatus)
		}
		if a.Block < 0 {
			return fmt.Errorf("hub_anomaly: block %s: negative duration", ruleNames[i])
		}
	}
	return nil
}

func pow2(x float64) float64 { return math.Pow(2, x) }
