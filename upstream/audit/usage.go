package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Usage sums up one user's requests through the gateway, from the audit
// trail (every request the gateway answered, whatever its outcome).
type Usage struct {
	// Days has one entry per UTC day of the window, oldest first.
	Days []DayUsage
	// Keys counts the window's requests per API key id ("" = not made
	// with a key: a login token, an OAuth2 token).
	Keys map[string]int64
	// Total and Limited (answered 429) over the window.
	Total, Limited int64
}

// DayUsage is one day's count.
type DayUsage struct {
	Day            time.Time
	Total, Limited int64
}

// Usage counts userID's requests of the last days UTC days (today
// included), walking the (user_id, ts, id) index.
func (s *Store) Usage(ctx context.Context, userID string, days int, now time.Time) (Usage, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(days - 1))
	u := Usage{Keys: map[string]int64{}}
	for i := 0; i < days; i++ {
		u.Days = append(u.Days, DayUsage{Day: from.AddDate(0, 0, i)})
	}
	rows, err := s.db.Query(ctx, `SELECT ts, api_key_id, status_code FROM audit_logs WHERE user_id = ? AND ts >= ?`,
		userID, db.Micros(from))
	if err != nil {
		return u, fmt.Errorf("usage of user %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ts int64
		var key string
		var status int
		if err := rows.Scan(&ts, &key, &status); err != nil {
			return u, fmt.Errorf("usage of user %s: %w", userID, err)
		}
		i := int(db.FromMicros(ts).Sub(from) / (24 * time.Hour))
		if i < 0 || i >= days {
			continue
		}
		u.Days[i].Total++
		u.Total++
		u.Keys[key]++
		if status == 429 {
			u.Days[i].Limited++
			u.Limited++
		}
	}
	return u, rows.Err()
}
