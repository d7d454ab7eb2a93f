package batchtx

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

const secret = "0123456789abcdef0123456789abcdef-test"

// fixture is a manager with its endpoints, and Bind around a handler that
// writes one audit_checkpoints row with the request's context.
type fixture struct {
	t *testing.T
	d *db.DB
	h http.Handler
	n int
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	m := New(d, []byte(secret), nil)
	t.Cleanup(m.Close)
	f := &fixture{t: t, d: d}
	mux := http.NewServeMux()
	m.Register(mux)
	mux.Handle("POST /api/v1/write", m.Bind(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n++
		_, err := d.Exec(r.Context(), `INSERT INTO audit_checkpoints (gateway_id, seq, hash, ts, mac, received_at) VALUES (?, 1, 'h', 1, 'm', 1)`,
			"gw-"+time.Now().Format("150405.000000000"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})))
	f.h = mux
	return f
}

// call sends a request; with subject set it carries that verified identity.
func (f *fixture) call(path string, body any, subject, tx string, internal bool) *httptest.ResponseRecorder {
	f.t.Helper()
	b, _ := json.Marshal(body)
	r := httptest.NewRequest("POST", path, bytes.NewReader(b))
	if internal {
		r.Header.Set("Authorization", contract.GatewayAuthorization(secret))
	}
	if tx != "" {
		r.Header.Set(contract.TxHeader, tx)
	}
	if subject != "" {
		r = r.WithContext(httpx.WithIdentity(r.Context(), &assertion.Claims{Subject: subject, KeyID: "k1"}))
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *fixture) begin(timeoutMS int64) string {
	f.t.Helper()
	w := f.call(contract.PathBatchTxBegin, contract.BatchTxBegin{Subject: "7", KeyID: "k1", TimeoutMS: timeoutMS}, "", "", true)
	var tx contract.BatchTx
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &tx) != nil || !wellFormed(tx.ID) {
		f.t.Fatalf("begin: %d %s", w.Code, w.Body)
	}
	return tx.ID
}

func (f *fixture) rows() int {
	f.t.Helper()
	var n int
	if err := f.d.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_checkpoints`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestBatchTx(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if w := f.call(contract.PathBatchTxBegin, contract.BatchTxBegin{Subject: "7"}, "", "", false); w.Code != http.StatusUnauthorized {
			t.Fatalf("begin without the gateway secret: %d", w.Code)
		}

		// Rolled back: both writes undone.
		id := f.begin(60_000)
		for i := 0; i < 2; i++ {
			if w := f.call("/api/v1/write", nil, "7", id, false); w.Code != http.StatusCreated {
				t.Fatalf("write %d in the transaction: %d %s", i, w.Code, w.Body)
			}
		}
		if w := f.call("/api/v1/write", nil, "8", id, false); w.Code != http.StatusForbidden {
			t.Fatalf("another caller naming the transaction: %d %s", w.Code, w.Body)
		}
		if w := f.call(contract.PathBatchTxRollback, contract.BatchTx{ID: id}, "", "", true); w.Code != http.StatusNoContent {
			t.Fatalf("rollback: %d %s", w.Code, w.Body)
		}
		if n := f.rows(); n != 0 {
			t.Fatalf("%d rows after a rollback", n)
		}
		if w := f.call("/api/v1/write", nil, "7", id, false); w.Code != http.StatusConflict {
			t.Fatalf("write naming a rolled-back transaction: %d %s", w.Code, w.Body)
		}
		if w := f.call(contract.PathBatchTxCommit, contract.BatchTx{ID: id}, "", "", true); w.Code != http.StatusConflict {
			t.Fatalf("commit of a rolled-back transaction: %d %s", w.Code, w.Body)
		}

		// Committed: visible after.
		id = f.begin(60_000)
		if w := f.call("/api/v1/write", nil, "7", id, false); w.Code != http.StatusCreated {
			t.Fatalf("write: %d %s", w.Code, w.Body)
		}
		if w := f.call(contract.PathBatchTxCommit, contract.BatchTx{ID: id}, "", "", true); w.Code != http.StatusNoContent {
			t.Fatalf("commit: %d %s", w.Code, w.Body)
		}
		if n := f.rows(); n != 1 {
			t.Fatalf("%d rows after a commit, want 1", n)
		}

		// A transaction left open is rolled back at its deadline, and
		// the database takes writes again.
		id = f.begin(50)
		if w := f.call("/api/v1/write", nil, "7", id, false); w.Code != http.StatusCreated {
			t.Fatalf("write: %d %s", w.Code, w.Body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for f.call("/api/v1/write", nil, "7", id, false).Code != http.StatusConflict {
			if time.Now().After(deadline) {
				t.Fatal("the transaction outlived its deadline")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if w := f.call("/api/v1/write", nil, "7", "", false); w.Code != http.StatusCreated {
			t.Fatalf("write outside any transaction after the deadline: %d %s", w.Code, w.Body)
		}
		if n := f.rows(); n != 2 {
			t.Fatalf("%d rows, want 2 (the expired transaction's write undone)", n)
		}
	})
}
