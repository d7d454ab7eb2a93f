package audit

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Retention defaults (GDPR: keep the trail a year, the full client IP a month).
const (
	DefaultKeep           = 365 * 24 * time.Hour
	DefaultAnonymizeAfter = 30 * 24 * time.Hour
	anonymizeBatch        = 1000
)

// RetentionResult counts what a retention run did.
type RetentionResult struct {
	Deleted    int64 `json:"deleted"`
	Anonymized int64 `json:"anonymized"`
}

// Retention deletes records older than keep and replaces the client IP of
// records older than anonymizeAfter by its /24 (IPv4) or /48 (IPv6). These
// are the only changes ever made to audit_logs; both run in transactions
// that raise the maintenance flag the append-only triggers check. On
// PostgreSQL whole expired months are dropped as partitions. It also
// creates the partitions of this month and the next two.
func (s *Store) Retention(ctx context.Context, now time.Time, keep, anonymizeAfter time.Duration) (RetentionResult, error) {
	var res RetentionResult
	for i := 0; i < 3; i++ {
		if err := s.EnsurePartition(ctx, monthStart(now).AddDate(0, i, 0)); err != nil {
			return res, err
		}
	}
	cutoff := db.Micros(now.Add(-keep))
	if s.db.Dialect == db.Postgres {
		n, err := s.dropExpiredPartitions(ctx, cutoff)
		if err != nil {
			return res, err
		}
		res.Deleted += n
	}
	err := s.maintenance(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM audit_logs WHERE ts < ?`), cutoff)
		if err != nil {
			return fmt.Errorf("delete expired audit logs: %w", err)
		}
		n, _ := r.RowsAffected()
		res.Deleted += n
		// A checkpoint goes with the record it anchors (a gateway silent
		// for longer than keep): verify would report its chain truncated.
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM audit_checkpoints WHERE ts < ?`), cutoff); err != nil {
			return fmt.Errorf("delete expired audit checkpoints: %w", err)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	anonCutoff := db.Micros(now.Add(-anonymizeAfter))
	for {
		n, err := s.anonymizeBatch(ctx, anonCutoff)
		res.Anonymized += n
		if err != nil || n < anonymizeBatch {
			return res, err
		}
	}
}

// anonymizeBatch anonymizes up to anonymizeBatch records older than cutoff.
func (s *Store) anonymizeBatch(ctx context.Context, cutoff int64) (int64, error) {
	var n int64
	err := s.maintenance(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.db.Rebind(`SELECT ts, id, ip_address FROM audit_logs
			WHERE ts < ? AND ip_address <> '' AND ip_address NOT LIKE '%/%' LIMIT ?`), cutoff, anonymizeBatch)
		if err != nil {
			return fmt.Errorf("select audit IPs: %w", err)
		}
		type row struct {
			ts, id int64
			ip     string
		}
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ts, &r.id, &r.ip); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		rows.Close()
		for _, r := range todo {
			// An unparsable address anonymizes to "": nothing identifying is kept.
			if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE audit_logs SET ip_address = ? WHERE ts = ? AND id = ?`),
				auditchain.AnonymizeIP(r.ip), r.ts, r.id); err != nil {
				return fmt.Errorf("anonymize audit IP: %w", err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// maintenance runs f in a transaction where the append-only triggers let
// the retention job through.
func (s *Store) maintenance(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	on, off := `UPDATE audit_maintenance SET active = 1 WHERE id = 1`, `UPDATE audit_maintenance SET active = 0 WHERE id = 1`
	if s.db.Dialect == db.Postgres {
		on, off = `SELECT set_config('hub.audit_maintenance', 'on', true)`, `SELECT set_config('hub.audit_maintenance', '', true)`
	}
	if _, err := tx.ExecContext(ctx, on); err != nil {
		return fmt.Errorf("audit maintenance: %w", err)
	}
	if err := f(tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, off); err != nil {
		return err
	}
	return tx.Commit()
}

// dropExpiredPartitions drops the monthly partitions that end before cutoff.
func (s *Store) dropExpiredPartitions(ctx context.Context, cutoff int64) (int64, error) {
	rows, err := s.db.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_logs'::regclass`)
	if err != nil {
		return 0, fmt.Errorf("list audit partitions: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, err
		}
		names = append(names, n)
	}
	rows.Close()
	var deleted int64
	for _, name := range names {
		m, ok := partitionMonth(name)
		if !ok || db.Micros(m.AddDate(0, 1, 0)) > cutoff {
			continue
		}
		var count int64
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM `+name).Scan(&count); err != nil {
			return deleted, err
		}
		if _, err := s.db.Exec(ctx, `DROP TABLE `+name); err != nil {
			return deleted, fmt.Errorf("drop audit partition %s: %w", name, err)
		}
		s.mu.Lock()
		delete(s.partitions, name)
		s.mu.Unlock()
		deleted += count
	}
	return deleted, nil
}

// partitionMonth parses audit_logs_pYYYYMM.
func partitionMonth(name string) (time.Time, bool) {
	v, ok := strings.CutPrefix(name, "audit_logs_p")
	if !ok || len(v) != 6 {
		return time.Time{}, false
	}
	y, err1 := strconv.Atoi(v[:4])
	mo, err2 := strconv.Atoi(v[4:])
	if err1 != nil || err2 != nil || mo < 1 || mo > 12 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC), true
}

// RunRetention runs Retention now and then every interval until ctx ends.
func (s *Store) RunRetention(ctx context.Context, interval time.Duration, log *slog.Logger) {
	for {
		res, err := s.Retention(ctx, s.now(), DefaultKeep, DefaultAnonymizeAfter)
		if err != nil && ctx.Err() == nil {
			log.Error("audit retention failed", "error", err)
		} else if res.Deleted > 0 || res.Anonymized > 0 {
			log.Info("audit retention", "deleted", res.Deleted, "anonymized", res.Anonymized)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
