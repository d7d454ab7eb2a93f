package audit

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/httpx"
	"github.com/hubchantier/hubgate/upstream/page"
)

// Bounds of POST /internal/audit.
const (
	maxBatchBody    = 32 << 20
	maxBatchRecords = 10000
)

// Register adds POST /internal/audit (gateways, shared secret) and
// GET /api/v1/admin/audit-logs (admins) to mux. There is no route that
// updates or deletes a record.
func (s *Store) Register(mux *http.ServeMux, gatewaySecret []byte, accept ...[]byte) {
	s.WithGatewaySecret(gatewaySecret, accept...)
	mux.Handle("POST "+contract.PathAudit, httpx.GatewayOnly(append([][]byte{gatewaySecret}, accept...), s.handleIngest))
	mux.HandleFunc("GET /api/v1/admin/audit-logs", s.handleList)
}

// handleIngest stores a batch {"records": [...], "checkpoint": {...}};
// records already stored (same event_id) are ignored, so a gateway may send
// a batch again. The checkpoint (the gateway's signed chain head after the
// batch) is stored after the records, in audit_checkpoints.
func (s *Store) handleIngest(w http.ResponseWriter, r *http.Request) {
	var body contract.AuditBatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBatchBody))
	if err := dec.Decode(&body); err != nil {
		httpx.BadRequest(w, r, "records", "invalid audit batch: "+err.Error())
		return
	}
	if len(body.Records) > maxBatchRecords {
		httpx.BadRequest(w, r, "records", "at most 10000 records per batch")
		return
	}
	for i := range body.Records {
		if msg := validate(&body.Records[i]); msg != "" {
			httpx.BadRequest(w, r, "records", msg)
			return
		}
	}
	if cp := body.Checkpoint; cp != nil {
		if msg := s.checkCheckpoint(cp, body.Records); msg != "" {
			httpx.BadRequest(w, r, "checkpoint", msg)
			return
		}
	}
	n, err := s.Insert(r.Context(), body.Records)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	if body.Checkpoint != nil {
		if err := s.SaveCheckpoint(r.Context(), *body.Checkpoint); err != nil {
			httpx.Internal(w, r, err)
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]int64{"received": int64(len(body.Records)), "inserted": n})
}

// validate refuses records no gateway produces. A record whose hash does
// not match is still stored: verify reports it, nothing is silently lost.
func validate(r *auditchain.Record) string {
	switch {
	case r.EventID == "" || len(r.EventID) > 64:
		return "event_id is required (at most 64 characters)"
	case r.GatewayID == "" || len(r.GatewayID) > 64:
		return "gateway_id is required (at most 64 characters)"
	case r.Seq < 1:
		return "seq must be positive"
	case r.Timestamp.IsZero():
		return "timestamp is required"
	case len(r.Hash) != 64:
		return "hash must be a hex SHA-256"
	case len(r.Changes) > 4*auditchain.MaxChanges:
		return "changes too large"
	case len(r.GraphQL) > auditchain.MaxGraphQL:
		return "graphql too large"
	case len(r.ClientRequestID) > auditchain.MaxClientRequestID || len(r.AttemptedUserID) > 64:
		return "client_request_id or attempted_user_id too long"
	}
	return ""
}

// handleList serves GET /api/v1/admin/audit-logs (admins only): newest
// first, cursor-paginated, filtered by user_id, resource_type, resource_id,
// action, request_id, status_code, from and to.
func (s *Store) handleList(w http.ResponseWriter, r *http.Request) {
	if httpx.RequireAdmin(w, r) == nil {
		return
	}
	q, errs := ParseQuery(r.URL.Query())
	if len(errs) > 0 {
		detail := errs[0].Message
		httpx.Problem(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid request", detail).With("errors", errs))
		return
	}
	recs, pg, err := s.List(r.Context(), q)
	if errors.Is(err, page.ErrInvalidCursor) {
		httpx.Problem(w, r, problem.New(http.StatusBadRequest, "invalid-cursor", "Invalid cursor", page.ErrInvalidCursor.Message))
		return
	}
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, page.List[auditchain.Record]{Data: recs, Pagination: pg})
}
