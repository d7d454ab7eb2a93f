package hubgraphql

import (
	"net/http"

	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// refusalHTTP is a request hub_graphql refuses.
type refusalHTTP struct {
	status      int
	slug, title string
	detail      string
	errs        gqlerror.List
	// challenge is the WWW-Authenticate value of a 401/403.
	challenge string
	analysis  *Analysis
}

// gqlError is a GraphQL error of a refusal's errors member.
type gqlError struct {
	Message    string              `json:"message"`
	Locations  []gqlerror.Location `json:"locations,omitempty"`
	Extensions map[string]any      `json:"extensions"`
}

// refuse answers an RFC 9457 problem that is also a GraphQL response: the
// problem members plus "errors" (each with extensions.code, the problem's
// slug), so problem-aware and GraphQL clients both read it. Nothing is
// forwarded; nothing is charged to the rate limiter.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, rf *refusalHTTP) error {
	op := "none"
	if rf.analysis != nil {
		op = string(rf.analysis.Operation)
	}
	operations.WithLabelValues(op, rf.slug).Inc()
	errs := make([]gqlError, 0, max(1, len(rf.errs)))
	for _, e := range rf.errs {
		errs = append(errs, gqlError{Message: e.Message, Locations: e.Locations, Extensions: map[string]any{"code": rf.slug}})
	}
	detail := rf.detail
	if detail == "" && len(rf.errs) > 0 {
		detail = rf.errs[0].Message
	}
	if len(errs) == 0 {
		errs = append(errs, gqlError{Message: detail, Extensions: map[string]any{"code": rf.slug}})
	}
	p := problem.New(rf.status, rf.slug, rf.title, detail).With("errors", errs)
	if a := rf.analysis; a != nil {
		p = p.With("depth", a.Depth).With("cost", a.Cost)
	}
	if rf.challenge != "" {
		w.Header().Set("WWW-Authenticate", rf.challenge)
	}
	h.log.Debug("graphql request refused", zap.String("type", rf.slug), zap.Int("status", rf.status))
	hub.WriteProblem(w, r, p)
	return nil
}
