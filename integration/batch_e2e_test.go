package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// op is one batch operation as a client writes it.
type op map[string]any

// batchResult is one entry of a batch answer's results.
type batchResult struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// obj decodes a result's body as an object.
func (b batchResult) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b.Body, &m); err != nil {
		t.Fatalf("result body not an object: %v: %s", err, b.Body)
	}
	return m
}

// batch posts a batch to prefix+/batch and returns the answer and its results.
func (s *stack) batch(prefix string, auth []string, body map[string]any) (response, []batchResult) {
	s.t.Helper()
	r := s.gwDo("POST", prefix+"/batch", body, auth...)
	if r.status != 200 {
		return r, nil
	}
	var env struct {
		Results []batchResult `json:"results"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		s.t.Fatalf("batch answer: %v: %s", err, r.body)
	}
	if ops, _ := body["operations"].([]op); len(env.Results) != len(ops) {
		s.t.Fatalf("batch answer has %d results for %d operations: %s", len(env.Results), len(ops), r.body)
	}
	return r, env.Results
}

// statuses lists the results' statuses.
func statuses(rs []batchResult) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

// wantStatuses fails unless the results have exactly these statuses.
func wantStatuses(t *testing.T, what string, rs []batchResult, want ...int) {
	t.Helper()
	if fmt.Sprint(statuses(rs)) != fmt.Sprint(want) {
		for i, r := range rs {
			t.Logf("result %d: %d %s", i, r.Status, r.Body)
		}
		t.Fatalf("%s: statuses %v, want %v", what, statuses(rs), want)
	}
}

// resultProblem fails unless result r is a problem of the given type slug.
func resultProblem(t *testing.T, what string, r batchResult, status int, slug string) {
	t.Helper()
	if r.Status != status || !strings.HasPrefix(r.Headers["Content-Type"], "application/problem+json") {
		t.Fatalf("%s: want a %d problem, got %d %v %s", what, status, r.Status, r.Headers, r.Body)
	}
	if got := r.obj(t)["type"]; got != "urn:hubchantier:problem:"+slug {
		t.Fatalf("%s: type %v, want %s", what, got, slug)
	}
}

// batchStack is a seeded stack with a read-write API key of an admin
// (etag@example.com); gwEnv is added to the gateway's environment.
func batchStack(t *testing.T, b backend, gwEnv ...string) (*stack, []string) {
	t.Helper()
	s := newStack(t, b, gwEnv...)
	s.createUser("etag@example.com", "admin")
	s.cli("seed")
	jwt := s.login("etag@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "batch", "scopes": []string{"read", "write"}})
	return s, bearer(key)
}

// TestBatchE2E runs batches through the real binaries on the memory and
// Redis stores: references, If-Match and ?fields= per operation, v2 names,
// per-operation scopes (a read-only key's POST is refused alone), the
// limits (101 operations, nested batches, strict bodies) and failed
// dependencies.
func TestBatchE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[1]} {
		t.Run(b.name, func(t *testing.T) {
			s, auth := batchStack(t, b, "HUB_BATCH_RATE_LIMIT=1000/minute")
			jwt := s.login("etag@example.com", "correct-horse-battery")
			_, roKey := s.createKey(jwt, map[string]any{"name": "ro", "scopes": []string{"read"}})
			ro := bearer(roKey)

			// Create, then patch with the created tag, then read selected
			// fields: references to the id and the ETag of operation 0.
			r, rs := s.batch("/api/v1", auth, map[string]any{"operations": []op{
				{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "Batch A", "budget": 10}},
				{"method": "PATCH", "path": "/chantiers/{$0.body.id}", "body": map[string]any{"nom": "Batch A2"},
					"headers": map[string]string{"If-Match": "{$0.headers.ETag}"}},
				{"method": "GET", "path": "/chantiers/{$0#/body/id}?fields=id,nom"},
				{"method": "PATCH", "path": "/chantiers/{$0.body.id}", "body": map[string]any{"nom": "stale"},
					"headers": map[string]string{"If-Match": "{$0.headers.ETag}"}},
			}})
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("batch: %d %s", r.status, r.body)
			}
			wantStatuses(t, "create/patch/get/stale patch", rs, 201, 200, 200, 412)
			id := fmt.Sprint(rs[0].obj(t)["id"])
			if rs[0].Headers["ETag"] == "" || rs[0].Headers["X-Request-Id"] == "" {
				t.Fatalf("create result headers %v: no ETag or X-Request-Id", rs[0].Headers)
			}
			if got := rs[2].obj(t); len(got) != 2 || got["nom"] != "Batch A2" || fmt.Sprint(got["id"]) != id {
				t.Fatalf("GET ?fields=id,nom in a batch: %v", got)
			}
			resultProblem(t, "stale If-Match", rs[3], 412, "precondition-failed")
			checkBatchAudit(t, s, bearer(jwt), r.header.Get("X-Request-Id"), rs,
				"create_chantier", "update_chantier", "read_chantier", "update_chantier")
			if rs[1].Headers["X-Request-Id"] == rs[0].Headers["X-Request-Id"] || rs[0].Headers["X-Request-Id"] == r.header.Get("X-Request-Id") {
				t.Fatal("operations do not have request ids of their own")
			}

			// A read-only key: its GET runs, its POST alone is refused; an
			// operation referring to the refused one gets 424.
			_, rs = s.batch("/api/v1", ro, map[string]any{"operations": []op{
				{"method": "GET", "path": "/chantiers/" + id},
				{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "nope"}},
				{"method": "GET", "path": "/chantiers/{$1.body.id}"},
				{"method": "GET", "path": "/chantiers?limit=1"},
			}})
			wantStatuses(t, "read-only key", rs, 200, 403, 424, 200)
			resultProblem(t, "read-only POST", rs[1], 403, "insufficient-scope")
			resultProblem(t, "reference to a failed operation", rs[2], 424, "failed-dependency")

			// v2: names mapped on the way in and out.
			_, rs = s.batch("/api/v2", auth, map[string]any{"operations": []op{
				{"method": "POST", "path": "/chantiers", "body": map[string]any{"name": "Batch v2", "budget": 5}},
				{"method": "GET", "path": "/chantiers/{$0.body.id}?fields=id,name"},
			}})
			wantStatuses(t, "v2", rs, 201, 200)
			if got := rs[1].obj(t); got["name"] != "Batch v2" || len(got) != 2 {
				t.Fatalf("v2 GET in a batch: %v", got)
			}

			// Parallel: independent reads at once, a dependent one after its source.
			ops := []op{{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "P"}}}
			for i := 0; i < 8; i++ {
				ops = append(ops, op{"method": "GET", "path": "/chantiers/" + id})
			}
			ops = append(ops, op{"method": "DELETE", "path": "/chantiers/{$0.body.id}"})
			_, rs = s.batch("/api/v1", auth, map[string]any{"parallel": true, "operations": ops})
			wantStatuses(t, "parallel", rs, 201, 200, 200, 200, 200, 200, 200, 200, 200, 204)

			// Limits: 101 operations, nested batch, strict body, headers.
			many := make([]op, 101)
			for i := range many {
				many[i] = op{"method": "GET", "path": "/chantiers/" + id}
			}
			r, _ = s.batch("/api/v1", auth, map[string]any{"operations": many})
			wantProblem(t, "101 operations", r, 400, "batch-too-large")
			if r.json(t)["limit"] != float64(100) || !strings.Contains(fmt.Sprint(r.json(t)["detail"]), "100") {
				t.Fatalf("101 operations: the problem does not name the limit: %s", r.body)
			}
			for name, body := range map[string]map[string]any{
				"nested":         {"operations": []op{{"method": "POST", "path": "/batch", "body": map[string]any{"operations": []op{}}}}},
				"unknown member": {"operations": []op{{"method": "GET", "path": "/chantiers"}}, "atomik": true},
				"forward ref":    {"operations": []op{{"method": "GET", "path": "/chantiers/{$1.body.id}"}, {"method": "GET", "path": "/chantiers"}}},
				"credentials":    {"operations": []op{{"method": "GET", "path": "/chantiers", "headers": map[string]string{"Authorization": "Bearer x"}}}},
				"identity":       {"operations": []op{{"method": "GET", "path": "/chantiers", "headers": map[string]string{"X-Hub-Identity": "x"}}}},
				"escape":         {"operations": []op{{"method": "GET", "path": "/../../internal/revocations"}}},
				"empty":          {"operations": []op{}},
			} {
				r, _ := s.batch("/api/v1", auth, body)
				wantProblem(t, name, r, 400, "invalid-batch")
			}
			r = s.gwDo("POST", "/api/v1/batch", nil, with(auth, "Content-Type", "application/json")...)
			wantProblem(t, "no body", r, 400, "invalid-batch")
			r = s.gwDo("GET", "/api/v1/batch", nil, auth...)
			wantProblem(t, "GET /batch", r, 405, "method-not-allowed")
			r = s.gwDo("POST", "/api/v1/batch", map[string]any{"operations": []op{{"method": "GET", "path": "/chantiers"}}})
			wantProblem(t, "anonymous batch", r, 401, "")
		})
	}
}

// checkBatchAudit waits for the audit records of a batch's operations: one
// per operation, each with the operation's own request id and action and
// linked to the batch call's record by batch_request_id.
func checkBatchAudit(t *testing.T, s *stack, admin []string, batchRID string, rs []batchResult, actions ...string) {
	t.Helper()
	var recs []map[string]any
	eventually(t, 20*time.Second, "the batch's audit records", func() bool {
		r := s.gwDo("GET", "/api/v1/admin/audit-logs?batch_request_id="+batchRID, nil, admin...)
		if r.status != 200 {
			t.Fatalf("audit-logs?batch_request_id: %d %s", r.status, r.body)
		}
		var env struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &env); err != nil {
			t.Fatal(err)
		}
		recs = env.Data
		return len(recs) >= len(rs) && len(s.auditRecords(admin, batchRID)) == 1
	})
	if len(recs) != len(rs) {
		t.Fatalf("%d audit records for a batch of %d operations", len(recs), len(rs))
	}
	byRID := map[string]map[string]any{}
	for _, rec := range recs {
		byRID[fmt.Sprint(rec["request_id"])] = rec
	}
	for i, res := range rs {
		rec := byRID[res.Headers["X-Request-Id"]]
		if rec == nil {
			t.Fatalf("operation %d (request id %s) has no audit record", i, res.Headers["X-Request-Id"])
		}
		if rec["action"] != actions[i] || rec["status_code"] != float64(res.Status) || rec["batch_request_id"] != batchRID {
			t.Fatalf("operation %d's audit record %v: want action %s, status %d, batch_request_id %s", i, rec, actions[i], res.Status, batchRID)
		}
	}
	if call := s.auditRecords(admin, batchRID)[0]; call["endpoint"] != "/api/v1/batch" || call["batch_request_id"] != nil && call["batch_request_id"] != "" {
		t.Fatalf("the batch call's own record: %v", call)
	}
}

// TestBatchRateLimitE2E: each operation counts against the caller's
// limits (operations past a key's quota get 429 alone, and the next batch
// call is refused whole), and the batch call itself against the shipped
// batch rule (10/minute per principal).
func TestBatchRateLimitE2E(t *testing.T) {
	s, _ := batchStack(t, backends[0])
	jwt := s.login("etag@example.com", "correct-horse-battery")
	owner := s.userIDOf(bearer(jwt), "etag@example.com")
	r := s.gwDo("POST", "/api/v1/admin/api-keys", map[string]any{
		"user_id": owner, "name": "five", "scopes": []string{"read"}, "rate_limit": "5/minute",
	}, bearer(jwt)...)
	if r.status != 201 {
		t.Fatalf("admin create key: %d %s", r.status, r.body)
	}
	five := bearer(r.json(t)["key"].(string))
	ops := make([]op, 6)
	for i := range ops {
		ops[i] = op{"method": "GET", "path": "/chantiers?limit=1"}
	}
	// The batch call takes one of the five, its operations the rest.
	_, rs := s.batch("/api/v1", five, map[string]any{"operations": ops})
	wantStatuses(t, "6 operations with 5/minute", rs, 200, 200, 200, 200, 429, 429)
	resultProblem(t, "operation past the quota", rs[4], 429, "rate-limited")
	if rs[4].Headers["Retry-After"] == "" || rs[3].Headers["RateLimit"] == "" {
		t.Fatalf("rate-limit headers missing from results: %v / %v", rs[3].Headers, rs[4].Headers)
	}
	r, _ = s.batch("/api/v1", five, map[string]any{"operations": ops[:1]})
	checkRateLimited(t, r, "per-key", 5, 60, 60)

	// The batch rule: ten batch calls a minute per principal.
	admin := bearer(jwt)
	for i := 0; i < 10; i++ {
		_, rs := s.batch("/api/v1", admin, map[string]any{"operations": ops[:1]})
		wantStatuses(t, fmt.Sprintf("batch call %d", i+1), rs, 200)
	}
	r, _ = s.batch("/api/v2", admin, map[string]any{"operations": ops[:1]})
	checkRateLimited(t, r, "batch", 10, 60, 60)
}

// TestBatchDeadlineE2E: operations the batch's deadline leaves unrun get
// 504 (batch-deadline); the answer still has one result per operation.
func TestBatchDeadlineE2E(t *testing.T) {
	s, auth := batchStack(t, backends[0], "HUB_BATCH_TIMEOUT=1ms")
	ops := make([]op, 30)
	for i := range ops {
		ops[i] = op{"method": "GET", "path": "/chantiers?limit=100"}
	}
	_, rs := s.batch("/api/v1", auth, map[string]any{"operations": ops})
	first := -1
	for i, r := range rs {
		if r.Status == 504 && first < 0 {
			first = i
		}
		if first >= 0 {
			resultProblem(t, fmt.Sprintf("operation %d after the deadline", i), r, 504, "batch-deadline")
		}
	}
	if first < 0 {
		t.Fatalf("no operation of a 30-operation batch missed a 1ms deadline: %v", statuses(rs))
	}
}

// countOf returns the exact number of rows of a collection.
func countOf(t *testing.T, s *stack, auth []string, collection string) int {
	t.Helper()
	r := s.gwDo("GET", "/api/v1/"+collection+"?limit=1&total=exact", nil, auth...)
	if r.status != 200 {
		t.Fatalf("count %s: %d %s", collection, r.status, r.body)
	}
	p, _ := r.json(t)["pagination"].(map[string]any)
	n, ok := p["total"].(float64)
	if !ok {
		t.Fatalf("count %s: no pagination.total in %s", collection, r.body)
	}
	return int(n)
}

// TestBatchAtomicE2E: atomic batches on SQLite and PostgreSQL are all or
// nothing in one upstream transaction. A failing operation keeps its
// error, every other gets 424, and nothing is applied (counted after);
// a successful batch is committed, its later operations seeing the
// earlier ones' uncommitted rows; a read-only key's POST rolls back its
// whole atomic batch; the database takes writes right after (the
// transaction is over, SQLite's write lock released).
func TestBatchAtomicE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[3]} {
		t.Run(b.name, func(t *testing.T) {
			s, auth := batchStack(t, b, "HUB_BATCH_RATE_LIMIT=1000/minute")
			jwt := s.login("etag@example.com", "correct-horse-battery")
			_, roKey := s.createKey(jwt, map[string]any{"name": "ro", "scopes": []string{"read"}})
			chantiers, signalements := countOf(t, s, auth, "chantiers"), countOf(t, s, auth, "signalements")

			// Fails at operation 2 (invalid gravite): nothing applied.
			_, rs := s.batch("/api/v1", auth, map[string]any{"atomic": true, "operations": []op{
				{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "Atomic A"}},
				{"method": "POST", "path": "/signalements", "body": map[string]any{"chantier_id": "{$0.body.id}", "titre": "fuite"}},
				{"method": "POST", "path": "/signalements", "body": map[string]any{"chantier_id": "{$0.body.id}", "titre": "x", "gravite": "apocalyptique"}},
				{"method": "GET", "path": "/chantiers/{$0.body.id}"},
			}})
			if len(rs) != 4 || rs[0].Status != 424 || rs[1].Status != 424 || rs[2].Status < 400 || rs[2].Status == 424 || rs[3].Status != 424 {
				t.Fatalf("atomic batch failing at operation 2: %v", statuses(rs))
			}
			resultProblem(t, "rolled-back operation", rs[0], 424, "batch-rolled-back")
			resultProblem(t, "not-run operation", rs[3], 424, "batch-rolled-back")
			if rs[2].Headers["Content-Type"] == "" || !strings.Contains(string(rs[2].Body), "gravite") {
				t.Fatalf("the failing operation lost its error: %s", rs[2].Body)
			}
			if c, sg := countOf(t, s, auth, "chantiers"), countOf(t, s, auth, "signalements"); c != chantiers || sg != signalements {
				t.Fatalf("after a rolled-back atomic batch: %d chantiers (was %d), %d signalements (was %d)", c, chantiers, sg, signalements)
			}

			// All succeed: committed; reads inside see the batch's own rows.
			_, rs = s.batch("/api/v1", auth, map[string]any{"atomic": true, "operations": []op{
				{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "Atomic B"}},
				{"method": "PATCH", "path": "/chantiers/{$0.body.id}", "body": map[string]any{"nom": "Atomic B2"},
					"headers": map[string]string{"If-Match": "{$0.headers.ETag}"}},
				{"method": "POST", "path": "/signalements", "body": map[string]any{"chantier_id": "{$0.body.id}", "titre": "fuite"}},
				{"method": "GET", "path": "/chantiers/{$0.body.id}?fields=nom"},
			}})
			wantStatuses(t, "atomic success", rs, 201, 200, 201, 200)
			if got := rs[3].obj(t)["nom"]; got != "Atomic B2" {
				t.Fatalf("read inside the atomic batch: nom %v", got)
			}
			id := fmt.Sprint(rs[0].obj(t)["id"])
			r := s.gwDo("GET", "/api/v1/chantiers/"+id, nil, auth...)
			if r.status != 200 || r.json(t)["nom"] != "Atomic B2" {
				t.Fatalf("committed chantier: %d %s", r.status, r.body)
			}
			if c := countOf(t, s, auth, "signalements"); c != signalements+1 {
				t.Fatalf("after a committed atomic batch: %d signalements, want %d", c, signalements+1)
			}

			// A read-only key: its POST is refused, so the batch is rolled back.
			_, rs = s.batch("/api/v1", bearer(roKey), map[string]any{"atomic": true, "operations": []op{
				{"method": "GET", "path": "/chantiers/" + id},
				{"method": "PATCH", "path": "/chantiers/" + id, "body": map[string]any{"nom": "nope"}},
			}})
			wantStatuses(t, "atomic read-only", rs, 424, 403)

			// The database takes ordinary writes again at once.
			r = s.gwDo("PATCH", "/api/v1/chantiers/"+id, map[string]any{"nom": "after"}, auth...)
			if r.status != 200 {
				t.Fatalf("write after atomic batches: %d %s", r.status, r.body)
			}
		})
	}
}
