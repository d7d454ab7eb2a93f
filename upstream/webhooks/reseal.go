package webhooks

import (
	"context"
	"fmt"
)

// Reseal re-encrypts, under the current key, every stored signing secret
// that only an older key (Options.OpenKeys) opens, and reports how many it
// changed. The upstream runs it at start while HUB_GATEWAY_SECRET_ACCEPT
// is set (step 2 of a rollover, docs/deployment.md), so that dropping the
// old secret afterwards loses no webhook.
func (s *Service) Reseal(ctx context.Context) (int, error) {
	if len(s.seal.older) == 0 {
		return 0, nil
	}
	rows, err := s.db.Query(ctx, `SELECT id, secret_enc, prev_secret_enc FROM webhooks`)
	if err != nil {
		return 0, err
	}
	type row struct{ id, cur, prev string }
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.cur, &r.prev); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		cur, changedCur, err := s.reseal(r.id, r.cur)
		if err != nil {
			return n, fmt.Errorf("webhook %s: %w", r.id, err)
		}
		prev, changedPrev := r.prev, false
		if r.prev != "" {
			if prev, changedPrev, err = s.reseal(r.id, r.prev); err != nil {
				return n, fmt.Errorf("webhook %s: %w", r.id, err)
			}
		}
		if !changedCur && !changedPrev {
			continue
		}
		// Guarded by the old ciphertext: a rotation in between wins.
		res, err := s.db.Exec(ctx, `UPDATE webhooks SET secret_enc = ?, prev_secret_enc = ? WHERE id = ? AND secret_enc = ?`,
			cur, prev, r.id, r.cur)
		if err != nil {
			return n, err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, nil
}

// reseal returns enc sealed under the current key, and whether it changed.
func (s *Service) reseal(id, enc string) (string, bool, error) {
	if _, err := s.seal.openCurrent(id, enc); err == nil {
		return enc, false, nil
	}
	plain, err := s.seal.open(id, enc)
	if err != nil {
		return "", false, err
	}
	out, err := s.seal.seal(id, plain)
	return out, err == nil, err
}
