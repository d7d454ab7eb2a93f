package anomaly

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
	"github.com/hubchantier/hubgate/upstream/page"
)

// Service serves the anomaly endpoints.
type Service struct {
	store   *Store
	secrets [][]byte
	cursors *page.Codec
	log     *slog.Logger
}

// New returns the service. secret is HUB_GATEWAY_SECRET (it authenticates
// the gateways' ingest calls); cursorKey signs listing cursors; now nil
// means time.Now.
func New(d *db.DB, secret, cursorKey []byte, now func() time.Time) *Service {
	return &Service{store: NewStore(d, now), secrets: [][]byte{secret}, cursors: page.NewCodec(cursorKey), log: slog.Default()}
}

// AcceptSecret also accepts another shared secret on ingest
// (HUB_GATEWAY_SECRET_ACCEPT during a rollover); empty: none. It returns s.
func (s *Service) AcceptSecret(secret []byte) *Service {
	if len(secret) > 0 {
		s.secrets = append(s.secrets, secret)
	}
	return s
}

// Register adds the routes to mux:
//
//	POST /internal/anomalies         a gateway reports one event (shared secret)
//	GET  /api/v1/admin/anomalies     admins list the last 7 days
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("POST "+contract.PathAnomalies, s.internal(s.handleIngest))
	mux.HandleFunc("GET /api/v1/admin/anomalies", s.handleList)
}

// internal guards a gateway-only endpoint (httpx.GatewayOnly).
func (s *Service) internal(h http.HandlerFunc) http.Handler { return httpx.GatewayOnly(s.secrets, h) }

// handleIngest stores one event: 201 when new, 200 when the event id was
// already stored (a gateway's retry), 400 on an invalid event.
func (s *Service) handleIngest(w http.ResponseWriter, r *http.Request) {
	var e Event
	if !httpx.DecodeJSON(w, r, &e) {
		return
	}
	if err := e.validate(); err != nil {
		field, _, _ := strings.Cut(err.Error(), ":")
		httpx.BadRequest(w, r, field, err.Error())
		return
	}
	created, err := s.store.Insert(r.Context(), &e)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Warn("anomaly reported", "rule", e.Rule, "principal_kind", e.PrincipalKind,
			"principal_id", e.PrincipalID, "gateway_id", e.GatewayID, "event_id", e.EventID)
	}
	httpx.WriteJSON(w, status, map[string]any{"event_id": e.EventID, "created": created})
}

// handleList answers GET /api/v1/admin/anomalies?rule=&principal_kind=&principal_id=&cursor=&limit=.
func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	c := httpx.RequireAdmin(w, r)
	if c == nil {
		return
	}
	if c.Method == assertion.MethodAPIKey && !c.HasScope("admin") {
		httpx.Problem(w, r, problem.New(http.StatusForbidden, "insufficient-scope", "Forbidden", "this API key lacks the admin scope"))
		return
	}
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "rule", "principal_kind", "principal_id", "cursor", "limit":
		default:
			httpx.BadRequest(w, r, name, "unknown query parameter "+name+" (allowed: rule, principal_kind, principal_id, cursor, limit)")
			return
		}
	}
	f := Filter{Rule: q.Get("rule"), PrincipalKind: q.Get("principal_kind"), PrincipalID: q.Get("principal_id")}
	if f.Rule != "" && !Rules[f.Rule] {
		httpx.BadRequest(w, r, "rule", "rule must be one of error_rate, spike, scan, user_agents")
		return
	}
	if f.PrincipalKind != "" && !Kinds[f.PrincipalKind] {
		httpx.BadRequest(w, r, "principal_kind", "principal_kind must be one of api_key, oauth_client, user, ip")
		return
	}
	limit, err := page.ParseLimit(q)
	if err != nil {
		var pe *page.Error
		errors.As(err, &pe)
		httpx.BadRequest(w, r, pe.Field, pe.Message)
		return
	}
	scope := f.scope()
	var pos *page.Position
	if cur := q.Get("cursor"); cur != "" {
		p, err := s.cursors.Decode(scope, cur)
		if err != nil {
			httpx.Problem(w, r, problem.New(http.StatusBadRequest, "invalid-cursor", "Invalid cursor", page.ErrInvalidCursor.Message))
			return
		}
		pos = &p
	}
	events, more, err := s.store.List(r.Context(), f, pos, limit)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	// Rows exist beyond the page in the walking direction when more is
	// set, and behind it whenever we came from a cursor.
	next := (pos == nil || pos.Dir == page.Next) && more || (pos != nil && pos.Dir == page.Prev)
	prev := pos != nil && (pos.Dir == page.Next || more)
	pg := &page.Cursors{Limit: limit}
	if len(events) > 0 {
		if next {
			last := events[len(events)-1]
			c := s.cursors.Encode(scope, page.Position{Dir: page.Next, CreatedAt: db.Micros(last.DetectedAt), ID: last.id})
			pg.NextCursor = &c
		}
		if prev {
			c := s.cursors.Encode(scope, page.Position{Dir: page.Prev, CreatedAt: db.Micros(events[0].DetectedAt), ID: events[0].id})
			pg.PrevCursor = &c
		}
	}
	pg.HasMore = pg.NextCursor != nil
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, page.List[*Event]{Data: events, Pagination: pg})
}
