package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestIngestCheckpoint: POST /internal/audit stores a batch's checkpoint
// when its signature verifies and refuses the batch otherwise.
func TestIngestCheckpoint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := New(d, []byte("k"))
		mux := http.NewServeMux()
		s.Register(mux, testSecret)
		recs := chainOf("gw-a", 5, time.Now())
		post := func(cp auditchain.Checkpoint) int {
			b, _ := json.Marshal(map[string]any{"records": recs, "checkpoint": cp})
			req := httptest.NewRequest("POST", "/internal/audit", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+string(testSecret))
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			return w.Code
		}
		head := recs[4]
		forged := auditchain.Checkpoint{GatewayID: "gw-a", Seq: 5, Hash: head.Hash, Timestamp: head.Timestamp}
		forged.Sign(auditchain.CheckpointKey([]byte("not-the-gateway-secret-32-bytes!")))
		if code := post(forged); code != http.StatusBadRequest {
			t.Fatalf("forged checkpoint: %d, want 400", code)
		}
		good := forged
		good.Sign(auditchain.CheckpointKey(testSecret))
		if code := post(good); code != http.StatusOK {
			t.Fatalf("signed checkpoint: %d, want 200", code)
		}
		res, err := s.Verify(context.Background(), VerifyOptions{})
		if err != nil || res.Break != nil || res.Heads["gw-a"] != 5 || !res.SignaturesChecked {
			t.Fatalf("verify = %+v, %v", res, err)
		}
	})
}
