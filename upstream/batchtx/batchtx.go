// Package batchtx holds the transactions of atomic batches (issue 14,
// docs/batch.md). The gateway's hub_batch opens one (POST
// /internal/batch-tx, bound to the batch's caller and to a deadline),
// sends each operation as an ordinary /api/* request naming it in
// X-Hub-Tx, and commits or rolls it back. Bind puts a named transaction in
// the request's context (db.WithTx), so the domain's handlers, unchanged,
// run their queries inside it.
//
// A transaction serves one request at a time (its operations come one
// after another). It never outlives its deadline: a timer rolls it back,
// which matters most on SQLite, where an open write transaction holds the
// database's only write lock.
package batchtx

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// MaxTimeout bounds a transaction's life whatever the gateway asks.
const MaxTimeout = 2 * time.Minute

// MaxOpen bounds the transactions open at once (each holds a connection).
const MaxOpen = 4

// Manager keeps the open transactions.
type Manager struct {
	d      *db.DB
	secret [][]byte
	log    *slog.Logger

	mu  sync.Mutex
	txs map[string]*entry
}

// entry is one open transaction.
type entry struct {
	subject, keyID string
	// mu serialises the requests of the transaction and its end.
	mu    sync.Mutex
	tx    *sql.Tx
	timer *time.Timer
	done  bool
}

// New returns a manager on d; internal calls must carry secret.
func New(d *db.DB, secret []byte, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{d: d, secret: [][]byte{secret}, log: log, txs: map[string]*entry{}}
}

// Register adds the internal endpoints to mux.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.Handle("POST "+contract.PathBatchTxBegin, m.internal(m.handleBegin))
	mux.Handle("POST "+contract.PathBatchTxCommit, m.internal(m.handleEnd(true)))
	mux.Handle("POST "+contract.PathBatchTxRollback, m.internal(m.handleEnd(false)))
}

// AcceptSecret also accepts another shared secret on the internal
// endpoints (HUB_GATEWAY_SECRET_ACCEPT during a rollover); empty: none.
func (m *Manager) AcceptSecret(secret []byte) *Manager {
	if len(secret) > 0 {
		m.secret = append(m.secret, secret)
	}
	return m
}

// internal guards an endpoint with the gateway secret (httpx.GatewayOnly).
func (m *Manager) internal(h http.HandlerFunc) http.Handler { return httpx.GatewayOnly(m.secret, h) }

func (m *Manager) handleBegin(w http.ResponseWriter, r *http.Request) {
	var req contract.BatchTxBegin
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Subject == "" {
		httpx.BadRequest(w, r, "subject", "a transaction is bound to a caller: {\"subject\", \"key_id\", \"timeout_ms\"}")
		return
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > MaxTimeout {
		timeout = MaxTimeout
	}
	m.mu.Lock()
	open := len(m.txs)
	m.mu.Unlock()
	if open >= MaxOpen {
		w.Header().Set("Retry-After", "1")
		httpx.Problem(w, r, problem.New(http.StatusServiceUnavailable, "batch-tx-busy", "Too many atomic batches",
			"too many atomic batches are running; retry shortly"))
		return
	}
	// Not the request's context: the transaction outlives this call.
	tx, err := m.d.BeginTx(context.Background(), nil)
	if err != nil {
		m.log.Error("begin batch transaction", "err", err)
		httpx.Problem(w, r, problem.New(http.StatusServiceUnavailable, "batch-tx-busy", "Database busy",
			"no transaction could be opened; retry shortly"))
		return
	}
	id := newID()
	e := &entry{subject: req.Subject, keyID: req.KeyID, tx: tx}
	e.timer = time.AfterFunc(timeout, func() {
		if m.end(id, false) == nil {
			m.log.Warn("batch transaction rolled back at its deadline", "timeout", timeout.String())
		}
	})
	m.mu.Lock()
	m.txs[id] = e
	m.mu.Unlock()
	httpx.WriteJSON(w, http.StatusCreated, contract.BatchTx{ID: id})
}

func (m *Manager) handleEnd(commit bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req contract.BatchTx
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.ID == "" {
			httpx.BadRequest(w, r, "id", "the transaction's id is required")
			return
		}
		err := m.end(req.ID, commit)
		switch {
		case err == nil, errors.Is(err, errGone) && !commit:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, errGone):
			httpx.Problem(w, r, problem.New(http.StatusConflict, "batch-tx-gone", "Transaction gone",
				"the transaction was rolled back (deadline) or never existed"))
		default:
			m.log.Error("end batch transaction", "commit", commit, "err", err)
			httpx.Problem(w, r, problem.New(http.StatusConflict, "batch-tx-failed", "Transaction failed",
				"the transaction could not be committed; nothing was applied"))
		}
	}
}

var errGone = errors.New("no such transaction")

// end commits or rolls back a transaction and forgets it. It waits for a
// request running inside it to finish.
func (m *Manager) end(id string, commit bool) error {
	m.mu.Lock()
	e := m.txs[id]
	delete(m.txs, id)
	m.mu.Unlock()
	if e == nil {
		return errGone
	}
	e.timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done = true
	if commit {
		return e.tx.Commit()
	}
	return e.tx.Rollback()
}

// Close rolls back every open transaction (at shutdown).
func (m *Manager) Close() {
	m.mu.Lock()
	ids := make([]string, 0, len(m.txs))
	for id := range m.txs {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		_ = m.end(id, false)
	}
}

// Bind runs /api/* requests that name a transaction (X-Hub-Tx) inside it.
// It sits inside httpx.RequireAssertion: the transaction must belong to
// the caller the gateway asserted, else 403. A request naming a
// transaction that is gone gets 409, never a run outside it.
func (m *Manager) Bind(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(contract.TxHeader)
		if !wellFormed(id) {
			// "" on every request outside an atomic batch; anything else
			// that is not an id of ours (an unreplaced placeholder of a
			// gateway config without hub_auth) names no transaction.
			next.ServeHTTP(w, r)
			return
		}
		m.mu.Lock()
		e := m.txs[id]
		m.mu.Unlock()
		c := httpx.Identity(r)
		if e != nil && (c == nil || c.Subject != e.subject || c.KeyID != e.keyID) {
			httpx.Problem(w, r, problem.New(http.StatusForbidden, "batch-tx-forbidden", "Forbidden",
				"the transaction belongs to another caller"))
			return
		}
		if e != nil {
			e.mu.Lock()
			defer e.mu.Unlock()
		}
		if e == nil || e.done {
			httpx.Problem(w, r, problem.New(http.StatusConflict, "batch-tx-gone", "Transaction gone",
				"the batch's transaction was rolled back (deadline) or never existed"))
			return
		}
		next.ServeHTTP(w, r.WithContext(db.WithTx(r.Context(), e.tx)))
	})
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wellFormed reports whether id has the form of newID's ids.
func wellFormed(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
