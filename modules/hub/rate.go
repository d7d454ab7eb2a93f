package hub

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// units are the rate units, as the upstream accepts them for a key's own
// rate_limit (upstream/auth/scopes.go).
var units = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// Rate is a parsed "N/unit", the notation of every rate in hubgate
// Caddyfiles (hub_rate_limit policies, hub_auth's failed_auth) and of an
// API key's own rate_limit.
type Rate struct {
	// Limit is the number of requests per Period.
	Limit int64
	// Period is the unit: a second, a minute, an hour or a day.
	Period time.Duration
}

// ParseRate parses "N/unit" with N a positive integer and unit second,
// minute, hour or day. N may not exceed the period in microseconds (the
// resolution of the limiter), i.e. a million per second.
func ParseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/unit, e.g. 100/hour", s)
	}
	period, ok := units[unit]
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: unknown unit %q (want second, minute, hour or day)", s, unit)
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 1 {
		return Rate{}, fmt.Errorf("rate %q: the limit must be a positive integer", s)
	}
	if v > period.Microseconds() {
		return Rate{}, fmt.Errorf("rate %q: at most %d per %s", s, period.Microseconds(), unit)
	}
	return Rate{Limit: v, Period: period}, nil
}

// String returns the rate as "N/unit".
func (r Rate) String() string {
	for u, d := range units {
		if d == r.Period {
			return strconv.FormatInt(r.Limit, 10) + "/" + u
		}
	}
	return strconv.FormatInt(r.Limit, 10) + "/" + r.Period.String()
}
