package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
)

// KeyCounts counts, per API key, userID's requests since since that the
// gateway let through (every status but 429: a refused request consumes no
// quota), walking the (user_id, ts, id) index. Requests without a key are
// counted under "".
func (s *Store) KeyCounts(ctx context.Context, userID string, since time.Time) (map[string]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT api_key_id, COUNT(*) FROM audit_logs WHERE user_id = ? AND ts >= ? AND status_code <> 429
		GROUP BY api_key_id`, userID, db.Micros(since))
	if err != nil {
		return nil, fmt.Errorf("key counts of user %s: %w", userID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var key string
		var n int64
		if err := rows.Scan(&key, &n); err != nil {
			return nil, fmt.Errorf("key counts of user %s: %w", userID, err)
		}
		out[key] = n
	}
	return out, rows.Err()
}
