package connectors

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// InboundDedupWindow is how long an inbound event id is remembered: a
// vendor's retry of the same event within it is acknowledged and ignored.
const InboundDedupWindow = 7 * 24 * time.Hour

// maxInbound bounds an inbound body.
const maxInbound = 1 << 20

// handleInbound serves POST /api/v1/connectors/{id}/inbound, public at the
// gateway (the vendor holds no Hub Chantier credential): the connector's
// own verification (signature and timestamp, e.g. Slack's v0 signing
// secret) is the authentication. A verified event is deduplicated by the
// vendor's event id for InboundDedupWindow, then handled. Every refusal is
// the same 401 for an unknown connector, a connector without inbound
// support and a bad signature, so ids do not leak.
func (s *Service) handleInbound(w http.ResponseWriter, r *http.Request) {
	unauth := func() {
		httpx.Problem(w, r, problem.New(http.StatusUnauthorized, "inbound-signature", "Unauthorized",
			"the request is not signed for this connector, or its timestamp is outside the tolerance"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInbound))
	if err != nil {
		httpx.Problem(w, r, problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", "the body exceeds 1 MiB"))
		return
	}
	c, err := s.get(r.Context(), r.PathValue("id"))
	if errors.Is(err, errNotFound) || (err == nil && !c.Enabled) {
		unauth()
		return
	}
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	conn, _, err := s.instance(c)
	if err != nil {
		unauth()
		return
	}
	in, ok := conn.(Inbound)
	if !ok {
		unauth()
		return
	}
	now := s.opt.Now()
	evID, answer, err := in.VerifyInbound(r.Header, body, now)
	if err != nil {
		unauth()
		return
	}
	if answer != nil {
		httpx.WriteJSON(w, http.StatusOK, answer)
		return
	}
	if evID != "" {
		res, err := s.db.Exec(r.Context(), `INSERT INTO connector_inbound (connector_id, event_id, received_at) VALUES (?, ?, ?)
			ON CONFLICT (connector_id, event_id) DO NOTHING`, c.ID, evID, db.Micros(now))
		if err != nil {
			httpx.Internal(w, r, err)
			return
		}
		if n, _ := res.RowsAffected(); n == 0 {
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "duplicate": true})
			return
		}
	}
	if err := in.HandleInbound(r.Context(), body); err != nil {
		// Forget the id so that the vendor's retry is handled.
		_, _ = s.db.Exec(r.Context(), `DELETE FROM connector_inbound WHERE connector_id = ? AND event_id = ?`, c.ID, evID)
		s.opt.Logger.Warn("connector inbound event failed", "connector", c.ID, "err", err)
		httpx.Problem(w, r, problem.New(http.StatusServiceUnavailable, "inbound-failed", "Service Unavailable", "the event could not be handled; retry"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}
