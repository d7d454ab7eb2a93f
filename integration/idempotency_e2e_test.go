package integration

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// countNamed counts the chantiers named nom.
func (s *stack) countNamed(auth []string, nom string) int {
	s.t.Helper()
	r := s.gwDo("GET", "/api/v1/chantiers?limit=100", nil, auth...)
	if r.status != 200 {
		s.t.Fatalf("list: %d %s", r.status, r.body)
	}
	var env struct {
		Data []struct {
			Nom string `json:"nom"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, c := range env.Data {
		if c.Nom == nom {
			n++
		}
	}
	return n
}

// TestIdempotencyE2E: Idempotency-Key through the real binaries, on the
// memory and the Redis store: a retry is the first answer byte for byte
// (one row created) and is audited as a replay, another request with the
// key is 422, concurrent retries get 409 while the first runs, keys work
// per batch operation, and answers holding a new API key are never kept.
func TestIdempotencyE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[1]} {
		t.Run(b.name, func(t *testing.T) {
			s, auth := batchStack(t, b)
			admin := bearer(s.login("etag@example.com", "correct-horse-battery"))
			key := func(k string) []string { return with(auth, "Idempotency-Key", `"`+k+`"`) }

			// A retry gets the first answer, byte for byte.
			body := map[string]any{"nom": "Idem A", "adresse": "1 rue du Port"}
			first := s.gwDo("POST", "/api/v1/chantiers", body, key("create-a")...)
			if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("first: %d %v %s", first.status, first.header, first.body)
			}
			retry := s.gwDo("POST", "/api/v1/chantiers", body, key("create-a")...)
			if retry.status != 201 || !bytes.Equal(retry.body, first.body) || retry.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retry: %d %v %s (first %s)", retry.status, retry.header, retry.body, first.body)
			}
			for _, h := range []string{"ETag", "Location", "Content-Type", "Deprecation"} {
				if retry.header.Get(h) != first.header.Get(h) {
					t.Errorf("retry %s %q, first %q", h, retry.header.Get(h), first.header.Get(h))
				}
			}
			if retry.header.Get("X-Request-Id") == first.header.Get("X-Request-Id") {
				t.Error("the replay reused the first request's X-Request-Id")
			}
			if n := s.countNamed(auth, "Idem A"); n != 1 {
				t.Fatalf("%d chantiers created by a request and its retry", n)
			}

			// The replay is audited as a replay of the first request.
			firstRID, retryRID := first.header.Get("X-Request-Id"), retry.header.Get("X-Request-Id")
			var rec map[string]any
			eventually(t, 20*time.Second, "the replay's audit record", func() bool {
				recs := s.auditRecords(admin, retryRID)
				if len(recs) == 1 {
					rec = recs[0]
				}
				return rec != nil && len(s.auditRecords(admin, firstRID)) == 1
			})
			if rec["idempotent_replay_of"] != firstRID || rec["status_code"] != float64(201) || rec["changes"] != nil {
				t.Fatalf("replay's audit record: %v (first request %s)", rec, firstRID)
			}
			if orig := s.auditRecords(admin, firstRID)[0]; orig["idempotent_replay_of"] != nil && orig["idempotent_replay_of"] != "" {
				t.Fatalf("the first request's record says replay: %v", orig)
			}

			// Same key, another request: 422; a malformed key: 400; neither runs.
			r := s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Idem B"}, key("create-a")...)
			wantProblem(t, "same key, other body", r, 422, "idempotency-key-reused")
			r = s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Idem B"}, with(auth, "Idempotency-Key", "unquoted")...)
			wantProblem(t, "unquoted key", r, 400, "idempotency-key-invalid")
			if n := s.countNamed(auth, "Idem B"); n != 0 {
				t.Fatalf("a refused request created %d chantiers", n)
			}

			// Concurrent retries: one runs, the others get 409 (or, once it
			// finished, its replay); one row.
			const n = 8
			results := make([]response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Idem C"}, key("race")...)
				}()
			}
			close(start)
			wg.Wait()
			ran, conflicts := 0, 0
			var winner []byte
			for _, res := range results {
				switch {
				case res.status == 201 && res.header.Get("Idempotent-Replayed") == "":
					ran++
					winner = res.body
				case res.status == 409:
					wantProblem(t, "concurrent retry", res, 409, "idempotency-key-in-use")
					conflicts++
				case res.status == 201:
				default:
					t.Fatalf("concurrent retry: %d %s", res.status, res.body)
				}
			}
			if ran != 1 || s.countNamed(auth, "Idem C") != 1 {
				t.Fatalf("%d of %d concurrent requests ran (%d got 409)", ran, n, conflicts)
			}
			for _, res := range results {
				if res.status == 201 && !bytes.Equal(res.body, winner) {
					t.Fatalf("a replay differs from the answer: %s vs %s", res.body, winner)
				}
			}
			t.Logf("%d concurrent requests with one key: 1 ran, %d got 409, %d replays", n, conflicts, n-1-conflicts)

			// Per batch operation: the second batch's operation is a replay.
			ops := []op{{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "Idem D"},
				"headers": map[string]string{"Idempotency-Key": `"batch-op-1"`}}}
			_, b1 := s.batch("/api/v1", auth, map[string]any{"operations": ops})
			_, b2 := s.batch("/api/v1", auth, map[string]any{"operations": ops})
			wantStatuses(t, "first batch", b1, 201)
			wantStatuses(t, "second batch", b2, 201)
			if b1[0].Headers["Idempotent-Replayed"] != "" || b2[0].Headers["Idempotent-Replayed"] != "true" ||
				!bytes.Equal(b1[0].Body, b2[0].Body) || s.countNamed(auth, "Idem D") != 1 {
				t.Fatalf("batch operations: %v %s / %v %s", b1[0].Headers, b1[0].Body, b2[0].Headers, b2[0].Body)
			}

			// An atomic batch's operation cannot carry a key (its answer is
			// not final before the commit): 400 for it, the batch rolled back.
			atomicOps := []op{{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "Idem E"}},
				{"method": "POST", "path": "/chantiers", "body": map[string]any{"nom": "Idem E"},
					"headers": map[string]string{"Idempotency-Key": `"atomic-op"`}}}
			_, ab := s.batch("/api/v1", auth, map[string]any{"operations": atomicOps, "atomic": true})
			wantStatuses(t, "atomic batch with a keyed operation", ab, 424, 400)
			if s.countNamed(auth, "Idem E") != 0 {
				t.Fatal("the atomic batch was not rolled back")
			}

			// A new API key's answer is never kept: each call mints its own.
			jwt := with(admin, "Idempotency-Key", `"mint"`)
			k1 := s.gwDo("POST", "/api/auth/api-keys", map[string]any{"name": "idem", "scopes": []string{"read"}}, jwt...)
			k2 := s.gwDo("POST", "/api/auth/api-keys", map[string]any{"name": "idem", "scopes": []string{"read"}}, jwt...)
			if k1.status != 201 || k2.status != 201 || bytes.Equal(k1.body, k2.body) || k2.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("API key creation replayed: %d %d %s", k1.status, k2.status, k2.header.Get("Idempotent-Replayed"))
			}
		})
	}
}
