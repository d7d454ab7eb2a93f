package connectors

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// Register adds the admin API (/api/v1/admin/connectors, administrators
// only) and the inbound webhook endpoint to mux. base is the context of
// background runs ("run now"): it ends at shutdown.
func (s *Service) Register(mux *http.ServeMux, base context.Context) {
	const p = "/api/v1/admin/connectors"
	mux.HandleFunc("GET "+p, s.admin(authz.Read, s.handleList))
	mux.HandleFunc("POST "+p, s.admin(authz.Create, s.handleCreate))
	mux.HandleFunc("GET "+p+"/{id}", s.withConnector(authz.Read, s.handleGet))
	mux.HandleFunc("PATCH "+p+"/{id}", s.withConnector(authz.Update, s.handlePatch))
	mux.HandleFunc("DELETE "+p+"/{id}", s.withConnector(authz.Delete, s.handleDelete))
	mux.HandleFunc("POST "+p+"/{id}/test", s.withConnector(authz.Update, s.handleTest))
	mux.HandleFunc("POST "+p+"/{id}/run", s.withConnector(authz.Update, func(w http.ResponseWriter, r *http.Request, c record) {
		id, err := s.RunNow(r.Context(), base, c.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"sync_log_id": id, "status": "running"})
	}))
	mux.HandleFunc("GET "+p+"/{id}/sync-logs", s.withConnector(authz.Read, s.handleSyncLogs))
	mux.HandleFunc("GET "+p+"/{id}/deliveries", s.withConnector(authz.Read, s.handleDeliveries))
	mux.HandleFunc("POST /api/v1/connectors/{id}/inbound", s.handleInbound)
	s.registerOAuth(mux)
}

func (s *Service) admin(act authz.Action, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authz.Require(w, r, httpx.Identity(r), authz.AdminAPI, act); !ok {
			return
		}
		h(w, r)
	}
}

func (s *Service) withConnector(act authz.Action, h func(http.ResponseWriter, *http.Request, record)) http.HandlerFunc {
	return s.admin(act, func(w http.ResponseWriter, r *http.Request) {
		c, err := s.get(r.Context(), r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, c)
	})
}

// input is the body of POST and PATCH. Config holds the type's fields;
// on PATCH it is merged into the stored one, and a secret field that is
// absent or "[redacted]" keeps its stored value (write-only fields).
type input struct {
	Type    string         `json:"type"`
	Name    *string        `json:"name"`
	Enabled *bool          `json:"enabled"`
	Config  map[string]any `json:"config"`
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	rs, err := s.list(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]View, 0, len(rs))
	for _, c := range rs {
		out = append(out, s.view(c))
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": out, "types": s.reg.Names()})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request, c record) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, s.view(c))
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	if s.keys == nil {
		s.writeError(w, r, errNoKeys)
		return
	}
	var in input
	if !httpx.DecodeJSON(w, r, &in) {
		return
	}
	t, ok := s.reg.Get(in.Type)
	if !ok {
		httpx.BadRequest(w, r, "type", "type must be one of: "+strings.Join(s.reg.Names(), ", "))
		return
	}
	name := t.Name
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if name == "" || len(name) > 100 {
		httpx.BadRequest(w, r, "name", "name must be 1 to 100 characters")
		return
	}
	cfg := in.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	if err := t.Validate(cfg, s.env()); err != nil {
		httpx.BadRequest(w, r, "config", err.Error())
		return
	}
	enabled := in.Enabled == nil || *in.Enabled
	owner, _ := strconv.ParseInt(httpx.Identity(r).Subject, 10, 64)
	c, err := s.create(r.Context(), owner, t.Name, name, enabled, cfg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := s.view(c)
	changes(w, nil, &v)
	w.Header().Set("Location", "/api/v1/admin/connectors/"+c.ID)
	httpx.WriteJSON(w, http.StatusCreated, v)
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request, c record) {
	var in input
	if !httpx.DecodeJSON(w, r, &in) {
		return
	}
	if in.Type != "" && in.Type != c.Type {
		httpx.BadRequest(w, r, "type", "a connector's type cannot change; create another connector")
		return
	}
	t, ok := s.reg.Get(c.Type)
	if !ok {
		s.writeError(w, r, Permanent("connector type %q is not available in this build", c.Type))
		return
	}
	cfg, err := s.config(c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	before := s.view(c)
	for k, v := range in.Config {
		if v == Redacted && isSecret(t, k) {
			continue // the client echoed a redacted value: keep it
		}
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	if err := t.Validate(cfg, s.env()); err != nil {
		httpx.BadRequest(w, r, "config", err.Error())
		return
	}
	name, enabled := c.Name, c.Enabled
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
		if name == "" || len(name) > 100 {
			httpx.BadRequest(w, r, "name", "name must be 1 to 100 characters")
			return
		}
	}
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	nc, err := s.update(r.Context(), c, name, enabled, cfg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after := s.view(nc)
	// A secret that changed shows as a member of its own (never its value).
	changes(w, &before, &after, changedSecrets(t, in.Config)...)
	httpx.WriteJSON(w, http.StatusOK, after)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request, c record) {
	before := s.view(c)
	// Disconnecting an OAuth2 connector revokes its tokens at the vendor
	// where the vendor supports it; a vendor that cannot be reached does
	// not keep the connector.
	if err := s.revoke(r.Context(), c); err != nil {
		s.opt.Logger.Warn("connector tokens not revoked at the vendor", "connector", c.ID, "error", err.Error())
		w.Header().Set("Hub-Revocation", "failed")
	}
	if err := s.remove(r.Context(), c.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	changes(w, &before, nil)
	w.WriteHeader(http.StatusNoContent)
}

// handleTest authenticates against the vendor: 200 {"ok": true} or
// {"ok": false, "error": "..."} (the vendor's refusal, without secrets).
func (s *Service) handleTest(w http.ResponseWriter, r *http.Request, c record) {
	conn, t, err := s.instance(c)
	if err == nil {
		_, err = s.call(r.Context(), s.lane(c.ID, t), true, conn.Test)
	}
	if err != nil {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Service) handleSyncLogs(w http.ResponseWriter, r *http.Request, c record) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	logs, err := s.SyncLogs(r.Context(), c.ID, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": logs})
}

func (s *Service) handleDeliveries(w http.ResponseWriter, r *http.Request, c record) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	list, err := events.Deliveries(r.Context(), s.db, Kind, c.ID, 0, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": list})
}

func limitParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			httpx.BadRequest(w, r, "limit", "limit must be an integer from 1 to 100")
			return 0, false
		}
		limit = n
	}
	return limit, true
}

func isSecret(t Type, field string) bool {
	for _, f := range t.Secrets {
		if f == field {
			return true
		}
	}
	return false
}

func changedSecrets(t Type, in map[string]any) []string {
	var out []string
	for k, v := range in {
		if isSecret(t, k) && v != Redacted {
			out = append(out, k)
		}
	}
	return out
}

// changes reports the write in X-Hub-Changes (docs/audit.md): the
// redacted views before and after; a secret set by the request appears as
// "<field>_changed": true, never with its value.
func changes(w http.ResponseWriter, before, after *View, secrets ...string) {
	m := func(v *View, mark bool) map[string]any {
		if v == nil {
			return nil
		}
		out := map[string]any{"id": v.ID, "type": v.Type, "name": v.Name, "enabled": v.Enabled, "config": v.Config, "version": v.Version}
		for _, f := range secrets {
			out[f+"_changed"] = mark
		}
		return out
	}
	w.Header().Set(auditchain.ChangesHeader, auditchain.EncodeChanges(m(before, false), m(after, true)))
}

// writeError maps errors to problems; messages never carry configuration.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var perm *PermanentError
	switch {
	case errors.Is(err, errNotFound):
		httpx.NotFound(w, r, "connector "+strconv.Quote(r.PathValue("id")))
	case errors.Is(err, errConflict):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "conflict", "Conflict", "the connector changed meanwhile; fetch it again"))
	case errors.Is(err, errNoKeys):
		w.Header().Set("Retry-After", "3600")
		httpx.Problem(w, r, problem.New(http.StatusServiceUnavailable, "connectors-disabled", "Service Unavailable",
			"connectors are disabled: the operator has not set HUB_CONNECTOR_KEYS"))
	case errors.Is(err, errKeyAbsent), errors.As(err, &perm):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "connector-unusable", "Conflict", err.Error()))
	default:
		httpx.Internal(w, r, err)
	}
}
