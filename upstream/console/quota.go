package console

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// DefaultRateLimit is the gateway's per-key default when the operator sets
// none: the shipped Caddyfile's {$HUB_RATE_LIMIT:1000/hour}.
const DefaultRateLimit = "1000/hour"

// DefaultUserRateLimit is the gateway's per-user quota across keys and
// tokens when the operator sets none: the shipped Caddyfile's
// {$HUB_USER_RATE_LIMIT:5000/hour}.
const DefaultUserRateLimit = "5000/hour"

// quotaView is the usage page's quota section.
type quotaView struct {
	Keys []quotaRow
	// User is the account's quota across all keys and tokens (Limit ""
	// when off).
	User quotaRow
}

// quotaRow is one active key's quota on the usage page.
type quotaRow struct {
	Key       auth.KeyInfo
	Limit     string // "100/hour"; "" when no per-key limit applies
	Own       bool   // the key's own rate_limit, not the gateway default
	Quota     int64
	Window    string // "hour", the unit of Limit
	Used      int64
	Remaining int64
}

// rateWindows are the rate units the gateway and the API accept.
var rateWindows = map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}

// parseRate reads "N/unit" (auth.ValidRateLimit's syntax); ok is false
// for "off", "" or anything else.
func parseRate(s string) (n int64, unit string, w time.Duration, ok bool) {
	num, unit, found := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseInt(num, 10, 64)
	w, known := rateWindows[unit]
	if !found || err != nil || v <= 0 || !known {
		return 0, "", 0, false
	}
	return v, unit, w, true
}

// quotas estimates what is left of each active key's per-key quota: the
// key's own rate_limit, else the gateway default (Deps.DefaultRateLimit,
// the same HUB_RATE_LIMIT the gateway reads), minus the key's requests in
// the trailing window that the gateway let through (the audit trail).
// Trailing-window counting charges every request of the window in full,
// while the gateway's GCRA has already refilled part of the older ones:
// the estimate is never above what the gateway would allow (docs/console.md,
// "Remaining quota").
func (c *Console) quotas(ctx context.Context, userID int64) (quotaView, error) {
	var out quotaView
	keys, err := c.d.Auth.ListAPIKeys(ctx, userID)
	if err != nil {
		return out, err
	}
	def := c.d.DefaultRateLimit
	if def == "" {
		def = DefaultRateLimit
	}
	now := c.d.Now()
	counts := map[time.Duration]map[string]int64{} // one audit query per window length
	count := func(w time.Duration) (map[string]int64, error) {
		if counts[w] == nil {
			m, err := c.d.Audit.KeyCounts(ctx, strconv.FormatInt(userID, 10), now.Add(-w))
			if err != nil {
				return nil, err
			}
			counts[w] = m
		}
		return counts[w], nil
	}
	for _, k := range keys {
		if k.Status != "active" && k.Status != "expiring_soon" {
			continue
		}
		row := quotaRow{Key: k, Limit: def}
		if k.RateLimit != "" {
			row.Limit, row.Own = k.RateLimit, true
		}
		n, unit, w, ok := parseRate(row.Limit)
		if !ok {
			row.Limit = "" // "off": no per-key quota
			out.Keys = append(out.Keys, row)
			continue
		}
		m, err := count(w)
		if err != nil {
			return out, err
		}
		row.Quota, row.Window, row.Used = n, unit, m[k.ID]
		row.Remaining = max(0, n-row.Used)
		out.Keys = append(out.Keys, row)
	}
	// The per-user quota counts every request the gateway attributed to
	// the user (keys, login JWTs, OAuth2 tokens: user_id set), not the
	// console's own, which it sees as anonymous.
	user := c.d.UserRateLimit
	if user == "" {
		user = DefaultUserRateLimit
	}
	if n, unit, w, ok := parseRate(user); ok {
		m, err := count(w)
		if err != nil {
			return out, err
		}
		var used int64
		for _, v := range m {
			used += v
		}
		out.User = quotaRow{Limit: user, Quota: n, Window: unit, Used: used, Remaining: max(0, n-used)}
	}
	return out, nil
}
