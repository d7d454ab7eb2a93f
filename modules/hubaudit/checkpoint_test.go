package hubaudit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/modules/hub"
)

// TestSinkSendsSignedCheckpoint: each batch carries the signed head of the
// chain after it (its last record), which the store keeps outside
// audit_logs so that deleting the newest records is detected.
func TestSinkSendsSignedCheckpoint(t *testing.T) {
	j := openTest(t, t.TempDir(), 1<<20)
	defer j.Close()
	var last *auditchain.Record
	for i := 0; i < 3; i++ {
		rec := testRecord()
		wait, err := j.Append(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		last = rec
	}
	batch, _, err := j.readBatch(&segReader{}, cursor{Segment: 1}, 10)
	if err != nil || len(batch) != 3 {
		t.Fatalf("batch %d, %v", len(batch), err)
	}
	var got struct {
		Records    []auditchain.Record    `json:"records"`
		Checkpoint *auditchain.Checkpoint `json:"checkpoint"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	sink := &HTTPSink{Client: hub.NewInternalClient(srv.URL, string(testSecret)), Secret: string(testSecret)}
	if err := sink.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	cp := got.Checkpoint
	if len(got.Records) != 3 || cp == nil {
		t.Fatalf("sent %d records, checkpoint %+v", len(got.Records), cp)
	}
	if cp.GatewayID != j.GatewayID() || cp.Seq != last.Seq || cp.Hash != last.Hash || !cp.Valid(auditchain.CheckpointKey(testSecret)) {
		t.Fatalf("checkpoint %+v, want seq %d hash %s signed", cp, last.Seq, last.Hash)
	}
}
