package hubaudit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

// TestReplayRecorded: an answer an inner handler marks as an
// Idempotency-Key replay (hub_idempotency) is recorded with
// idempotent_replay_of; another answer is not, and the mark is part of
// the hashed form.
func TestReplayRecorded(t *testing.T) {
	h := testHandler(t)
	for _, replayOf := range []string{"", "first-request-id"} {
		req := caddyhttp.PrepareRequest(httptest.NewRequest("POST", "/api/v1/chantiers", nil), caddy.NewReplacer(), nil, nil)
		w := httptest.NewRecorder()
		err := h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if replayOf != "" {
				hub.SetIdempotentReplay(r, replayOf)
			}
			w.WriteHeader(http.StatusCreated)
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	h.journal.Close()
	recs := readAll(t, h.journal.dir)
	if len(recs) != 2 || recs[0].IdempotentReplayOf != "" || recs[1].IdempotentReplayOf != "first-request-id" {
		t.Fatalf("records: %+v", recs)
	}
	a, err := recs[1].Canonical()
	if err != nil {
		t.Fatal(err)
	}
	recs[1].IdempotentReplayOf = ""
	b, _ := recs[1].Canonical()
	if string(a) == string(b) {
		t.Fatal("idempotent_replay_of is not covered by the hash")
	}
}
