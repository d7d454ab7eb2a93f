package audit

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// chainOf returns n sealed records of gateway gw, one minute apart from t0.
func chainOf(gw string, n int, t0 time.Time) []auditchain.Record {
	out := make([]auditchain.Record, n)
	prev := ""
	for i := range out {
		r := auditchain.Record{
			EventID: auditchain.NewEventID(t0), GatewayID: gw, Seq: int64(i + 1), RequestID: fmt.Sprintf("req-%s-%d", gw, i),
			Timestamp: t0.Add(time.Duration(i) * time.Minute), UserID: fmt.Sprint(i % 3), Action: "read_chantier",
			ResourceType: "chantier", ResourceID: fmt.Sprint(i % 5), HTTPMethod: "GET", Endpoint: "/api/v1/chantiers/{id}",
			Path: fmt.Sprintf("/api/v1/chantiers/%d", i%5), StatusCode: 200 + 100*(i%2), LatencyMS: 1.5,
			IPAddress: "203.0.113.9", UserAgent: "test",
		}
		if i%6 == 0 {
			r.APIKeyID = "key" + gw
		}
		if i%4 == 0 {
			r.Changes = []byte(`{"after":{"nom":"B"},"before":{"nom":"A"}}`)
		}
		r.Normalize()
		if err := r.Seal(prev); err != nil {
			panic(err)
		}
		prev, out[i] = r.Hash, r
	}
	return out
}

// testSecret stands for HUB_GATEWAY_SECRET.
var testSecret = []byte("test-gateway-secret-of-32-bytes!")

// newStore returns a store that checks checkpoint signatures.
func newStore(d *db.DB) *Store { return New(d, []byte("k")).WithGatewaySecret(testSecret) }

// insertAnchored stores recs and, as a gateway's shipper does, the signed
// checkpoint of each gateway's newest record.
func insertAnchored(t *testing.T, s *Store, recs []auditchain.Record) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	heads := map[string]auditchain.Record{}
	for _, r := range recs {
		if r.Seq > heads[r.GatewayID].Seq {
			heads[r.GatewayID] = r
		}
	}
	for _, r := range heads {
		cp := auditchain.Checkpoint{GatewayID: r.GatewayID, Seq: r.Seq, Hash: r.Hash, Timestamp: r.Timestamp}
		cp.Sign(auditchain.CheckpointKey(testSecret))
		if err := s.SaveCheckpoint(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInsertIdempotent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := New(d, []byte("k"))
		ctx := context.Background()
		recs := chainOf("gw-a", 450, time.Now().Add(-time.Hour))
		n, err := s.Insert(ctx, recs[:300])
		if err != nil || n != 300 {
			t.Fatalf("insert = %d, %v", n, err)
		}
		// A batch sent again after a crash: only the new records count.
		n, err = s.Insert(ctx, recs[200:])
		if err != nil || n != 150 {
			t.Fatalf("re-insert = %d, %v; want 150 new", n, err)
		}
		var total int
		_ = d.QueryRow(ctx, `SELECT COUNT(*) FROM audit_logs`).Scan(&total)
		if total != 450 {
			t.Fatalf("%d rows, want 450", total)
		}
		res, err := s.Verify(ctx, VerifyOptions{AllowUnanchored: true})
		if err != nil || res.Break != nil || res.Records != 450 || res.Gateways != 1 || len(res.Unanchored) != 1 {
			t.Fatalf("verify = %+v, %v", res, err)
		}
		// Without a checkpoint the chain's tail cannot be checked: a break
		// unless explicitly allowed.
		if res, err := s.Verify(ctx, VerifyOptions{}); err != nil || res.Break == nil || res.Break.Kind != BreakNoCheckpoint {
			t.Fatalf("verify without checkpoint = %+v, %v", res.Break, err)
		}
	})
}

func TestListFiltersAndCursor(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := New(d, []byte("k"))
		ctx := context.Background()
		t0 := time.Now().Add(-48 * time.Hour)
		if _, err := s.Insert(ctx, chainOf("gw-a", 60, t0)); err != nil {
			t.Fatal(err)
		}
		q, errs := ParseQuery(url.Values{"user_id": {"1"}, "limit": {"7"}})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var seen []int64
		for pages := 0; ; pages++ {
			recs, pg, err := s.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.UserID != "1" {
					t.Fatalf("filter leaked user %s", r.UserID)
				}
				if n := len(seen); n > 0 && r.Seq >= seen[n-1] {
					t.Fatalf("not newest first: %d after %d", r.Seq, seen[n-1])
				}
				seen = append(seen, r.Seq)
			}
			if pg.NextCursor == nil {
				break
			}
			q.Cursor = *pg.NextCursor
			if pages > 10 {
				t.Fatal("runaway pagination")
			}
		}
		if len(seen) != 20 {
			t.Fatalf("user 1 has %d records, want 20", len(seen))
		}
		// Other filters.
		tests := []struct {
			params url.Values
			want   int
		}{
			{url.Values{"resource_type": {"chantier"}, "resource_id": {"3"}}, 12},
			{url.Values{"status_code": {"300"}}, 30},
			{url.Values{"from": {t0.Add(10 * time.Minute).Format(time.RFC3339Nano)}, "to": {t0.Add(20 * time.Minute).Format(time.RFC3339Nano)}}, 10},
			{url.Values{"request_id": {"req-gw-a-5"}}, 1},
			{url.Values{"api_key_id": {"keygw-a"}}, 10},
		}
		for _, tt := range tests {
			tt.params.Set("limit", "100")
			q, errs := ParseQuery(tt.params)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			recs, _, err := s.List(ctx, q)
			if err != nil || len(recs) != tt.want {
				t.Errorf("%v: %d records, %v; want %d", tt.params, len(recs), err, tt.want)
			}
		}
		// A cursor is bound to its filters.
		q, _ = ParseQuery(url.Values{"user_id": {"1"}, "limit": {"2"}})
		_, pg, _ := s.List(ctx, q)
		q2, _ := ParseQuery(url.Values{"user_id": {"2"}, "limit": {"2"}})
		q2.Cursor = *pg.NextCursor
		if _, _, err := s.List(ctx, q2); err == nil {
			t.Fatal("a cursor of another filter was accepted")
		}
	})
}

func TestParseQueryErrors(t *testing.T) {
	for _, v := range []url.Values{
		{"user": {"1"}}, {"status_code": {"abc"}}, {"from": {"yesterday"}}, {"limit": {"0"}},
		{"from": {"2026-01-02T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}}, {"user_id": {"1", "2"}},
	} {
		if _, errs := ParseQuery(v); len(errs) == 0 {
			t.Errorf("ParseQuery(%v) accepted", v)
		}
	}
}

// tamper changes a stored row behind the store's back, as an attacker with
// database access would (raising the maintenance flag the triggers check).
func tamper(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// A database owner can bypass the triggers: verify must still notice.
	on := `DROP TRIGGER IF EXISTS audit_logs_no_update`
	if d.Dialect == db.Postgres {
		on = `SET LOCAL session_replication_role = replica`
	}
	if _, err := tx.ExecContext(ctx, on); err != nil {
		t.Fatal(err)
	}
	if d.Dialect == db.SQLite {
		if _, err := tx.ExecContext(ctx, `UPDATE audit_maintenance SET active = 1 WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(q), args...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDetectsTampering: with the append-only triggers bypassed (a
// database owner can), verify names the first bad record: a modified one,
// a gap, and (issue 10) the newest records deleted — which a hash chain
// alone cannot show, but its checkpoint, kept in another table and signed
// with a key that is not in the database, does.
func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name string
		q    string
		args []any
		seq  int64
		kind string
	}{
		{"IP moved to another network", `UPDATE audit_logs SET ip_address = '198.51.100.1' WHERE gateway_id = 'gw-a' AND seq = ?`, []any{17}, 17, BreakHashMismatch},
		{"modified middle record (triggers bypassed)", `UPDATE audit_logs SET status_code = 500 WHERE gateway_id = 'gw-a' AND seq = ?`, []any{17}, 17, BreakHashMismatch},
		{"deleted record", `DELETE FROM audit_logs WHERE gateway_id = 'gw-a' AND seq = ?`, []any{17}, 18, BreakSeqGap},
		{"deleted newest record", `DELETE FROM audit_logs WHERE gateway_id = 'gw-a' AND seq = ?`, []any{30}, 30, BreakMissingTail},
		{"deleted newest records", `DELETE FROM audit_logs WHERE gateway_id = 'gw-a' AND seq >= ?`, []any{28}, 28, BreakMissingTail},
		{"deleted whole chain", `DELETE FROM audit_logs WHERE gateway_id = 'gw-a' AND seq >= ?`, []any{1}, 30, BreakMissingTail},
		{"deleted checkpoint", `DELETE FROM audit_checkpoints WHERE gateway_id = 'gw-a' AND seq = ?`, []any{30}, 30, BreakNoCheckpoint},
		{"lowered checkpoint", `UPDATE audit_checkpoints SET seq = ? WHERE gateway_id = 'gw-a'`, []any{25}, 25, BreakBadCheckpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				s := newStore(d)
				ctx := context.Background()
				insertAnchored(t, s, append(chainOf("gw-a", 30, time.Now().Add(-time.Hour)), chainOf("gw-b", 5, time.Now())...))
				if res, err := s.Verify(ctx, VerifyOptions{}); err != nil || res.Break != nil || res.Heads["gw-a"] != 30 {
					t.Fatalf("before tampering: %+v %v", res, err)
				}
				tamper(t, d, tt.q, tt.args...)
				res, err := s.Verify(ctx, VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if b := res.Break; b == nil || b.GatewayID != "gw-a" || b.Seq != tt.seq || b.Kind != tt.kind {
					t.Fatalf("verify = %+v (break %+v), want gw-a seq %d %s", res, res.Break, tt.seq, tt.kind)
				}
				if !strings.Contains(res.Break.String(), fmt.Sprintf("gateway gw-a, seq %d", tt.seq)) {
					t.Fatalf("report %q does not name the record", res.Break)
				}
			})
		})
	}
}

// TestCheckpointKeepsHighest: a batch sent again after a crash carries an
// older checkpoint; it never lowers the stored one.
func TestCheckpointKeepsHighest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newStore(d)
		ctx := context.Background()
		recs := chainOf("gw-a", 10, time.Now())
		insertAnchored(t, s, recs)
		insertAnchored(t, s, recs[:4])
		cps, err := s.checkpoints(ctx)
		if err != nil || cps["gw-a"].Seq != 10 {
			t.Fatalf("checkpoints = %+v, %v", cps, err)
		}
	})
}

func TestAppendOnlyTriggers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := New(d, nil)
		ctx := context.Background()
		if _, err := s.Insert(ctx, chainOf("gw-a", 3, time.Now())); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`UPDATE audit_logs SET status_code = 200`,
			`UPDATE audit_logs SET ip_address = ''`,
			`DELETE FROM audit_logs`,
		} {
			if _, err := d.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only refusal", q, err)
			}
		}
		// Even in maintenance, only ip_address may change.
		err := s.maintenance(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE audit_logs SET user_id = 'x'`)
			return err
		})
		if err == nil {
			t.Fatal("maintenance changed user_id")
		}
	})
}

func TestRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := New(d, nil)
		ctx := context.Background()
		now := time.Now()
		var recs []auditchain.Record
		recs = append(recs, chainOf("gw-old", 4, now.Add(-400*24*time.Hour))...)
		mid := chainOf("gw-mid", 4, now.Add(-60*24*time.Hour))
		mid[1].IPAddress = "2001:db8:1234:5678::9"
		_ = mid[1].Seal(mid[0].Hash) // same prefix class: still chained
		for i := 2; i < len(mid); i++ {
			_ = mid[i].Seal(mid[i-1].Hash)
		}
		recs = append(recs, mid...)
		recs = append(recs, chainOf("gw-new", 4, now.Add(-time.Hour))...)
		if _, err := s.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		res, err := s.Retention(ctx, now, DefaultKeep, DefaultAnonymizeAfter)
		if err != nil {
			t.Fatal(err)
		}
		if res.Deleted != 4 || res.Anonymized != 4 {
			t.Fatalf("retention = %+v, want 4 deleted, 4 anonymized", res)
		}
		rows, _ := d.Query(ctx, `SELECT gateway_id, ip_address FROM audit_logs ORDER BY gateway_id, seq`)
		defer rows.Close()
		got := map[string][]string{}
		for rows.Next() {
			var gw, ip string
			_ = rows.Scan(&gw, &ip)
			got[gw] = append(got[gw], ip)
		}
		if len(got["gw-old"]) != 0 || got["gw-mid"][0] != "203.0.113.0/24" || got["gw-mid"][1] != "2001:db8:1234::/48" || got["gw-new"][0] != "203.0.113.9" {
			t.Fatalf("after retention: %v", got)
		}
		v, err := s.Verify(ctx, VerifyOptions{AllowUnanchored: true})
		if err != nil || v.Break != nil {
			t.Fatalf("verify after anonymization: %+v %v", v.Break, err)
		}
		// Idempotent.
		if res, err := s.Retention(ctx, now, DefaultKeep, DefaultAnonymizeAfter); err != nil || res != (RetentionResult{}) {
			t.Fatalf("second run = %+v, %v", res, err)
		}
	})
}

// TestVerifyExpectCatchesReplayedCheckpoint: whoever kept an old genuine
// checkpoint can delete the newest records and put it back — invisible in
// the database alone (the documented limit), caught against the head the
// gateway reports outside it (--expect).
func TestVerifyExpectCatchesReplayedCheckpoint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newStore(d)
		ctx := context.Background()
		recs := chainOf("gw-a", 30, time.Now().Add(-time.Hour))
		insertAnchored(t, s, recs[:27])
		old, _ := s.checkpoints(ctx)
		insertAnchored(t, s, recs)
		tamper(t, d, `DELETE FROM audit_logs WHERE gateway_id = 'gw-a' AND seq >= ?`, 28)
		cp := old["gw-a"]
		tamper(t, d, `UPDATE audit_checkpoints SET seq = ?, hash = ?, ts = ?, mac = ? WHERE gateway_id = 'gw-a'`,
			cp.Seq, cp.Hash, db.Micros(cp.Timestamp), cp.MAC)
		if res, err := s.Verify(ctx, VerifyOptions{}); err != nil || res.Break != nil {
			t.Fatalf("replay without an outside anchor: %+v %v (expected to pass: the documented limit)", res.Break, err)
		}
		res, err := s.Verify(ctx, VerifyOptions{Expect: map[string]int64{"gw-a": 30}})
		if err != nil || res.Break == nil || res.Break.Kind != BreakMissingTail || res.Break.Seq != 28 {
			t.Fatalf("with --expect gw-a:30: %+v %v", res.Break, err)
		}
		res, err = s.Verify(ctx, VerifyOptions{Expect: map[string]int64{"gw-gone": 5}})
		if err != nil || res.Break == nil || res.Break.GatewayID != "gw-gone" || res.Break.Kind != BreakMissingTail {
			t.Fatalf("expected chain with no record: %+v %v", res.Break, err)
		}
	})
}
