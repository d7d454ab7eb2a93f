package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
)

// auditStack starts an upstream and a gateway whose audit journal is in a
// directory of the test (kept across gateway restarts).
func auditStack(t *testing.T, b backend) (*stack, string, harness.GatewayOptions, harness.UpstreamOptions) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := t.TempDir()
	uo := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: dir}
	if b.postgres {
		uo.DSN = postgresURL(t)
	}
	up, err := harness.StartUpstream(uo)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, up: up, secret: uo.Secret, client: &http.Client{Timeout: 15 * time.Second}}
	t.Cleanup(func() {
		s.up.Stop()
		if t.Failed() {
			t.Logf("upstream log tail:\n%s", s.up.Tail(3000))
		}
	})
	journal := filepath.Join(dir, "audit")
	gwo := harness.GatewayOptions{Upstream: up.Addr, Secret: uo.Secret, Dir: dir,
		ExtraEnv: []string{"HUB_AUDIT_DIR=" + journal}}
	s.gw, err = harness.StartGateway(gwo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", s.gw.Tail(3000))
		}
	})
	return s, journal, gwo, uo
}

// auditRecords lists the store's records for a request id (admin API).
func (s *stack) auditRecords(admin []string, rid string) []map[string]any {
	s.t.Helper()
	r := s.gwDo("GET", "/api/v1/admin/audit-logs?request_id="+rid, nil, admin...)
	if r.status != 200 {
		s.t.Fatalf("audit-logs: %d %s", r.status, r.body)
	}
	var env struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		s.t.Fatal(err)
	}
	return env.Data
}

// TestAuditE2E: every outcome (401, 201, 200, 304, 204, 404 on /internal)
// gets one record with the API team's fields, writes carry their changes
// (and the client never sees X-Hub-Changes), reading the trail is itself
// audited, non-admins cannot read it, and `audit verify` passes.
func TestAuditE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[2]} {
		t.Run(b.name, func(t *testing.T) {
			s, _, _, _ := auditStack(t, b)
			s.createUser("root@example.com", "admin")
			s.createUser("worker@example.com", "ouvrier")
			admin := bearer(s.login("root@example.com", "correct-horse-battery"))
			worker := bearer(s.login("worker@example.com", "correct-horse-battery"))

			type call struct {
				method, path string
				body         any
				hdr          []string
				status       int
				action       string
			}
			var rids []string
			do := func(c call) response {
				r := s.gwDo(c.method, c.path, c.body, c.hdr...)
				if r.status != c.status {
					t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
				}
				if r.header.Get("X-Hub-Changes") != "" {
					t.Fatalf("%s %s: X-Hub-Changes reached the client", c.method, c.path)
				}
				rid := r.header.Get("X-Request-Id")
				if rid == "" {
					t.Fatalf("%s %s: no X-Request-Id", c.method, c.path)
				}
				rids = append(rids, rid)
				return r
			}
			do(call{"GET", "/api/v1/chantiers", nil, nil, 401, "list_chantiers"})
			created := do(call{"POST", "/api/v1/chantiers", map[string]any{"nom": "Audit", "budget": 10}, admin, 201, "create_chantier"})
			id := fmt.Sprint(created.json(t)["id"])
			got := do(call{"GET", "/api/v1/chantiers/" + id, nil, admin, 200, "read_chantier"})
			do(call{"GET", "/api/v1/chantiers/" + id, nil, append(admin, "If-None-Match", got.header.Get("ETag")), 304, "read_chantier"})
			patched := do(call{"PATCH", "/api/v1/chantiers/" + id, map[string]any{"nom": "Audité"}, admin, 200, "update_chantier"})
			do(call{"DELETE", "/api/v1/chantiers/" + id, nil, admin, 204, "delete_chantier"})
			do(call{"GET", "/internal/revocations", nil, nil, 404, "read_other"})
			do(call{"GET", "/api/v1/admin/audit-logs", nil, worker, 403, "list_audit_logs"})
			_ = patched

			wantActions := []string{"list_chantiers", "create_chantier", "read_chantier", "read_chantier", "update_chantier", "delete_chantier", "read_other", "list_audit_logs"}
			wantStatus := []float64{401, 201, 200, 304, 200, 204, 404, 403}
			var listRID string
			for i, rid := range rids {
				var recs []map[string]any
				eventually(t, 20*time.Second, "record of "+rid+" shipped", func() bool {
					r := s.gwDo("GET", "/api/v1/admin/audit-logs?request_id="+rid, nil, admin...)
					listRID = r.header.Get("X-Request-Id")
					var env struct {
						Data []map[string]any `json:"data"`
					}
					_ = json.Unmarshal(r.body, &env)
					recs = env.Data
					return r.status == 200 && len(recs) > 0
				})
				if len(recs) != 1 {
					t.Fatalf("%s: %d records", rid, len(recs))
				}
				rec := recs[0]
				if rec["action"] != wantActions[i] || rec["status_code"] != wantStatus[i] || rec["ip_address"] != "127.0.0.1" {
					t.Fatalf("record %d: %v", i, rec)
				}
				for _, f := range []string{"event_id", "request_id", "timestamp", "user_id", "api_key_id", "oauth_client_id", "action",
					"resource_type", "resource_id", "http_method", "endpoint", "status_code", "latency_ms", "ip_address", "user_agent", "request_body_hash", "hash", "prev_hash"} {
					if _, ok := rec[f]; !ok {
						t.Fatalf("record %d lacks %s: %v", i, f, rec)
					}
				}
				switch wantActions[i] {
				case "create_chantier":
					if rec["resource_id"] != id || !strings.HasPrefix(fmt.Sprint(rec["request_body_hash"]), "hmac-sha256:") || rec["user_id"] == "" {
						t.Fatalf("create record: %v", rec)
					}
				case "update_chantier":
					ch, _ := json.Marshal(rec["changes"])
					if !strings.Contains(string(ch), `"nom":"Audit"`) || !strings.Contains(string(ch), `"nom":"Audité"`) {
						t.Fatalf("update changes: %s", ch)
					}
				case "delete_chantier":
					ch, _ := json.Marshal(rec["changes"])
					if !strings.Contains(string(ch), `"after":null`) {
						t.Fatalf("delete changes: %s", ch)
					}
				}
			}
			// Reading the trail is itself audited.
			eventually(t, 20*time.Second, "the audit read recorded", func() bool {
				recs := s.auditRecords(admin, listRID)
				return len(recs) == 1 && recs[0]["action"] == "list_audit_logs" && recs[0]["status_code"] == 200.0
			})
			if out := s.cli("audit", "verify"); !strings.Contains(out, "ok: every chain holds") {
				t.Fatalf("audit verify: %s", out)
			}
		})
	}
}

// TestAuditHardeningE2E (issue 10), on SQLite and PostgreSQL: request ids
// are the gateway's even when clients send one (kept in client_request_id);
// a failed login records the attempted account (none for an unknown email)
// and no body hash; other bodies are hashed with a key (checkable with
// auditchain.BodyHash, as `hubchantier audit body-hash` prints); and with the append-only triggers
// bypassed, `audit verify` names a deleted newest record (the checkpoint
// shows it) and a modified middle record.
func TestAuditHardeningE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[2]} {
		t.Run(b.name, func(t *testing.T) {
			s, _, _, uo := auditStack(t, b)
			dsn := uo.DSN
			if dsn == "" {
				dsn = filepath.Join(uo.Dir, "hub.db")
			}
			s.createUser("root@example.com", "admin")
			s.createUser("worker@example.com", "ouvrier")
			admin := bearer(s.login("root@example.com", "correct-horse-battery"))
			rid := func(r response) string { return r.header.Get("X-Request-Id") }
			record := func(rid string) map[string]any {
				var recs []map[string]any
				eventually(t, 20*time.Second, "record of "+rid, func() bool {
					recs = s.auditRecords(admin, rid)
					return len(recs) > 0
				})
				if len(recs) != 1 {
					t.Fatalf("%s: %d records", rid, len(recs))
				}
				return recs[0]
			}

			// Item 2: a client-chosen X-Request-Id is not the request id.
			same := []string{"X-Request-Id", "client-chosen-42"}
			r1 := s.gwDo("GET", "/api/v1/chantiers", nil, append(admin, same...)...)
			r2 := s.gwDo("GET", "/api/v1/chantiers", nil, append(admin, same...)...)
			if rid(r1) == rid(r2) || rid(r1) == "client-chosen-42" {
				t.Fatalf("request ids %q %q: the client chose them", rid(r1), rid(r2))
			}
			a, b := record(rid(r1)), record(rid(r2))
			if a["event_id"] == b["event_id"] || a["client_request_id"] != "client-chosen-42" || b["client_request_id"] != "client-chosen-42" {
				t.Fatalf("records %v / %v", a, b)
			}

			// Items 1 and 3: logins.
			wrong := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "worker@example.com", "password": "guess"})
			unknown := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "guess"})
			if wrong.status != 401 || unknown.status != 401 || wrong.header.Get("X-Hub-Audit-Account") != "" {
				t.Fatalf("logins: %d %d %v", wrong.status, unknown.status, wrong.header)
			}
			users := s.gwDo("GET", "/api/v1/users?limit=100", nil, admin...)
			var workerID string
			for _, u := range users.json(t)["data"].([]any) {
				if m := u.(map[string]any); m["email"] == "worker@example.com" {
					workerID = fmt.Sprint(m["id"])
				}
			}
			w, u := record(rid(wrong)), record(rid(unknown))
			if w["attempted_user_id"] != workerID || w["user_id"] != "" || w["request_body_hash"] != "" || w["action"] != "login" {
				t.Fatalf("failed login record (worker %s): %v", workerID, w)
			}
			if v, ok := u["attempted_user_id"]; (ok && v != "") || u["request_body_hash"] != "" {
				t.Fatalf("unknown-email login record: %v", u)
			}
			body := map[string]any{"nom": "Keyed", "budget": 10}
			created := s.gwDo("POST", "/api/v1/chantiers", body, admin...)
			raw, _ := json.Marshal(body) // the bytes s.gwDo sent
			want := auditchain.BodyHash([]byte(uo.Secret), raw)
			if got := record(rid(created))["request_body_hash"]; got != want || !strings.HasPrefix(want, "hmac-sha256:") {
				t.Fatalf("body hash %v, want %s", got, want)
			}

			// Item 4: everything shipped and checkpointed, then tampering.
			last := s.gwDo("GET", "/healthz", nil)
			d, err := db.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			var gw string
			var maxSeq, cpSeq int64
			eventually(t, 20*time.Second, "last record shipped and checkpointed", func() bool {
				_ = d.QueryRow(ctx, `SELECT gateway_id, MAX(seq) FROM audit_logs WHERE gateway_id = (SELECT gateway_id FROM audit_logs WHERE request_id = ?) GROUP BY gateway_id`, rid(last)).Scan(&gw, &maxSeq)
				_ = d.QueryRow(ctx, `SELECT seq FROM audit_checkpoints WHERE gateway_id = ?`, gw).Scan(&cpSeq)
				return gw != "" && cpSeq == maxSeq
			})
			s.gw.Stop() // no more records
			if out := s.cli("audit", "verify"); !strings.Contains(out, "ok: every chain holds") {
				t.Fatalf("audit verify before tampering: %s", out)
			}
			tamperE2E(t, d, `DELETE FROM audit_logs WHERE gateway_id = ? AND seq = ?`, gw, maxSeq)
			out, err := harness.RunCLI(s.up.Env, "audit", "verify")
			if err == nil || !strings.Contains(out, fmt.Sprintf("BROKEN: gateway %s, seq %d", gw, maxSeq)) || !strings.Contains(out, "missing tail") {
				t.Fatalf("verify after deleting the newest record: %v\n%s", err, out)
			}
			tamperE2E(t, d, `UPDATE audit_logs SET status_code = 299 WHERE gateway_id = ? AND seq = ?`, gw, 3)
			out, err = harness.RunCLI(s.up.Env, "audit", "verify")
			if err == nil || !strings.Contains(out, fmt.Sprintf("BROKEN: gateway %s, seq 3", gw)) || !strings.Contains(out, "modified record") {
				t.Fatalf("verify after modifying record 3: %v\n%s", err, out)
			}
		})
	}
}

// tamperE2E changes audit_logs as a database owner can, the append-only
// triggers bypassed.
func tamperE2E(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmts := []string{`DROP TRIGGER IF EXISTS audit_logs_no_delete`, `DROP TRIGGER IF EXISTS audit_logs_no_update`}
	if d.Dialect == db.Postgres {
		stmts = []string{`SET LOCAL session_replication_role = replica`}
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
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

// countByRequestID reads the store directly: request id → records.
func countByRequestID(t *testing.T, dsn string) map[string]int {
	t.Helper()
	d, err := db.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(context.Background(), `SELECT request_id, COUNT(*) FROM audit_logs GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var rid string
		var n int
		if err := rows.Scan(&rid, &n); err != nil {
			t.Fatal(err)
		}
		out[rid] = n
	}
	return out
}

// load sends GETs and POSTs through url from workers until stop is closed
// or each worker made max requests (pausing between them), and returns the X-Request-Id of every
// response received.
func load(url, key string, workers, max int, pause time.Duration, stop <-chan struct{}) []string {
	var mu sync.Mutex
	var rids []string
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < max; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var req *http.Request
				if i%4 == 0 {
					req, _ = http.NewRequest("POST", url+"/api/v1/chantiers", strings.NewReader(fmt.Sprintf(`{"nom":"load %d-%d"}`, w, i)))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest("GET", url+"/api/v1/chantiers?limit=2", nil)
				}
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the gateway is down: no response, no promise
					continue
				}
				_ = resp.Body.Close()
				time.Sleep(pause)
				if rid := resp.Header.Get("X-Request-Id"); rid != "" {
					mu.Lock()
					rids = append(rids, rid)
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	return rids
}

// TestAuditSurvivesKillAndOutage: kill -9 the gateway under load and
// restart it, then stop the upstream (the audit store) for
// HUB_TEST_AUDIT_OUTAGE (default 10s; run once with 60s) while traffic
// goes on: every request that received a response ends up with exactly one
// record in the store, and the chains verify.
func TestAuditSurvivesKillAndOutage(t *testing.T) {
	s, _, gwo, uo := auditStack(t, backends[0])
	s.createUser("root@example.com", "admin")
	jwt := s.login("root@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "load", "scopes": []string{"read", "write"}})

	// 1. Load, kill -9 in the middle, restart.
	stop := make(chan struct{})
	var rids []string
	done := make(chan []string)
	go func() { done <- load(s.gw.URL, key, 8, 20000, 0, stop) }()
	time.Sleep(1500 * time.Millisecond)
	s.gw.Kill()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	rids = append(rids, <-done...)
	if len(rids) >= 8*20000 || len(rids) < 50 {
		t.Fatalf("%d responses before the kill: the kill did not happen under load", len(rids))
	}
	t.Logf("%d responses before kill -9", len(rids))
	var err error
	if s.gw, err = harness.StartGateway(gwo); err != nil {
		t.Fatal(err)
	}

	// 2. The audit store goes away while traffic goes on (through the
	// gateway the upstream is down too: 502/503 answers, audited all the same).
	outage := 10 * time.Second
	if v := os.Getenv("HUB_TEST_AUDIT_OUTAGE"); v != "" {
		if outage, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	s.up.Stop()
	stop = make(chan struct{})
	go func() { done <- load(s.gw.URL, key, 4, 100000, 5*time.Millisecond, stop) }()
	time.Sleep(outage)
	close(stop)
	during := <-done
	t.Logf("%d responses during a %s outage of the audit store", len(during), outage)
	rids = append(rids, during...)
	bin, _ := harness.Binaries()
	p, err := harness.Start(uo.Dir, "hubchantier-restarted", filepath.Join(bin, "hubchantier"), s.up.Env, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitHTTP("http://"+s.up.Addr+"/healthz", 30*time.Second, p); err != nil {
		t.Fatal(err)
	}
	s.up.Proc = p
	// Traffic after the outage too.
	stop = make(chan struct{})
	go func() { done <- load(s.gw.URL, key, 4, 25, 0, stop) }()
	rids = append(rids, <-done...)

	dsn := filepath.Join(uo.Dir, "hub.db")
	var counts map[string]int
	eventually(t, 90*time.Second, "every answered request recorded", func() bool {
		counts = countByRequestID(t, dsn)
		for _, rid := range rids {
			if counts[rid] == 0 {
				return false
			}
		}
		return true
	})
	for _, rid := range rids {
		if counts[rid] != 1 {
			t.Fatalf("request %s has %d records, want exactly 1", rid, counts[rid])
		}
	}
	t.Logf("%d answered requests, each with exactly one record (%d records in the store)", len(rids), len(counts))
	out, err := harness.RunCLI(s.up.Env, "audit", "verify")
	if err != nil || !strings.Contains(out, "ok: every chain holds") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
}
