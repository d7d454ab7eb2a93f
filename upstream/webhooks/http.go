package webhooks

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/events"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// Register adds /api/v1/webhooks to mux. Every route is bound to the
// webhooks resource of the permission matrix: conducteurs manage their
// own endpoints, admins everybody's; ouvriers none.
func (s *Service) Register(mux *http.ServeMux) {
	const base = "/api/v1/webhooks"
	mux.HandleFunc("POST "+base, s.handleCreate)
	mux.HandleFunc("GET "+base, s.handleList)
	mux.HandleFunc("GET "+base+"/{id}", s.withHook(authz.Read, s.handleGet))
	mux.HandleFunc("PATCH "+base+"/{id}", s.withHook(authz.Update, s.handlePatch))
	mux.HandleFunc("DELETE "+base+"/{id}", s.withHook(authz.Delete, s.handleDelete))
	mux.HandleFunc("POST "+base+"/{id}/rotate-secret", s.withHook(authz.Update, s.handleRotate))
	mux.HandleFunc("GET "+base+"/{id}/deliveries", s.withHook(authz.Read, s.handleDeliveries))
	mux.HandleFunc("POST "+base+"/{id}/deliveries/{delivery}/redeliver", s.withHook(authz.Update, s.handleRedeliver))
}

// withHook checks the permission, loads {id} and hides another owner's
// webhook from a caller who may see only their own (404, not 403: ids do
// not leak).
func (s *Service) withHook(act authz.Action, h func(http.ResponseWriter, *http.Request, Webhook)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, ok := authz.Require(w, r, httpx.Identity(r), authz.Webhooks, act)
		if !ok {
			return
		}
		hook, err := s.get(r.Context(), r.PathValue("id"))
		if err == nil && d.Reach != authz.All && hook.UserID != d.UserID {
			err = errNotFound
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, hook)
	}
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	d, ok := authz.Require(w, r, httpx.Identity(r), authz.Webhooks, authz.Create)
	if !ok {
		return
	}
	var in input
	if !httpx.DecodeJSON(w, r, &in) {
		return
	}
	if in.Enabled != nil && !*in.Enabled {
		s.writeError(w, r, fieldErrors{{"enabled", "a webhook is created enabled; disable it with PATCH"}})
		return
	}
	var hook Webhook
	if err := s.validate(r.Context(), in, &hook, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.create(r.Context(), d.UserID, hook)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+out.ID)
	w.Header().Set("Cache-Control", "no-store") // the secret is shown once
	httpx.WriteJSON(w, http.StatusCreated, out)
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	d, ok := authz.Require(w, r, httpx.Identity(r), authz.Webhooks, authz.Read)
	if !ok {
		return
	}
	owner := d.UserID
	if d.Reach == authz.All {
		owner = 0
	}
	list, err := s.list(r.Context(), owner)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": list})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request, hook Webhook) {
	httpx.WriteJSON(w, http.StatusOK, hook.view(s.opt.Now()))
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request, hook Webhook) {
	var in input
	if !httpx.DecodeJSON(w, r, &in) {
		return
	}
	if err := s.validate(r.Context(), in, &hook, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.update(r.Context(), hook, in.Enabled)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request, hook Webhook) {
	if err := s.remove(r.Context(), hook.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleRotate(w http.ResponseWriter, r *http.Request, hook Webhook) {
	out, err := s.rotate(r.Context(), hook)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, out)
}

// handleDeliveries serves the delivery log, newest first: ?limit= (1–100,
// default 50) and ?before=<delivery id> for the next page.
func (s *Service) handleDeliveries(w http.ResponseWriter, r *http.Request, hook Webhook) {
	limit, before := 50, int64(0)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			httpx.BadRequest(w, r, "limit", "limit must be an integer from 1 to 100")
			return
		}
		limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		n, ok := httpx.ParseID(v)
		if !ok {
			httpx.BadRequest(w, r, "before", "before must be a delivery id")
			return
		}
		before = n
	}
	list, err := events.Deliveries(r.Context(), s.db, Kind, hook.ID, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := map[string]any{"limit": limit, "has_more": len(list) == limit}
	if len(list) == limit {
		page["next_before"] = list[len(list)-1].ID
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": list, "pagination": page})
}

// handleRedeliver queues a delivery's event again (202 with the new
// delivery's id).
func (s *Service) handleRedeliver(w http.ResponseWriter, r *http.Request, hook Webhook) {
	id, ok := httpx.ParseID(r.PathValue("delivery"))
	if !ok {
		httpx.NotFound(w, r, "delivery "+strconv.Quote(r.PathValue("delivery")))
		return
	}
	nid, err := events.Redeliver(r.Context(), s.db, Kind, hook.ID, id, s.opt.Now())
	if errors.Is(err, events.ErrNoDelivery) {
		httpx.NotFound(w, r, "delivery "+strconv.FormatInt(id, 10))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"delivery_id": nid, "status": "pending"})
}

// writeError maps errors to problems.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var fe fieldErrors
	switch {
	case errors.As(err, &fe):
		detail := fe[0].Message
		if len(fe) > 1 {
			detail = strconv.Itoa(len(fe)) + " fields are invalid"
		}
		httpx.Problem(w, r, problem.New(http.StatusBadRequest, "validation", "Invalid request", detail).With("errors", fe))
	case errors.Is(err, errNotFound):
		httpx.NotFound(w, r, "webhook "+strconv.Quote(r.PathValue("id")))
	case errors.Is(err, errTooMany):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "too-many-webhooks", "Conflict", err.Error()))
	case errors.Is(err, errConflict):
		httpx.Problem(w, r, problem.New(http.StatusConflict, "conflict", "Conflict", "the webhook changed meanwhile; fetch it again"))
	default:
		httpx.Internal(w, r, err)
	}
}
