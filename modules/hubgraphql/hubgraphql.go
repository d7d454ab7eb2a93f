// Package hubgraphql is the hub_graphql HTTP handler: it reads a GraphQL
// request (POST JSON or GET), parses and validates its operation against
// the schema the upstream serves (the same SDL file), and before the
// upstream sees it refuses an operation deeper or costlier than allowed
// (400), checks the scopes each root field needs against the caller
// (403), charges the rate limiter by the operation's cost instead of 1
// (hub.SetCost, read by hub_rate_limit) and hands the operation's name,
// type and root fields to hub_audit (hub.SetGraphQLOperation).
//
// It runs after hub_auth (it needs the caller) and before hub_rate_limit
// (which charges the cost); the Caddyfile orders it with the global
// option `order hub_graphql after hub_auth` (docs/graphql.md).
package hubgraphql

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	DefaultMaxDepth       = 5
	DefaultMaxFields      = 250
	DefaultMaxCost        = 1000
	DefaultMaxQueryLength = 32 << 10
	DefaultMaxBody        = 1 << 20
	DefaultReadTimeout    = 30 * time.Second
)

// Handler guards a GraphQL endpoint.
type Handler struct {
	// Schema is the path of the GraphQL SDL file the upstream serves
	// (configs/graphql/schema.graphql in this repository). Every root
	// field must carry @resource(name: "…"); @listSize marks list fields
	// for the cost model. Required.
	Schema string `json:"schema,omitempty"`
	// MaxDepth is the deepest nesting of selection sets allowed: { a { b } }
	// has depth 1. Deeper operations get 400 graphql-too-deep. Default 5.
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxCost is the complexity budget of one operation, in cost units
	// (docs/graphql.md, "Cost model"). Costlier operations get 400
	// graphql-too-complex. Default 1000.
	MaxCost int64 `json:"max_cost,omitempty"`
	// MaxFields bounds the selections (fields and fragment spreads) a
	// document writes, counted on the parsed text before validation, whose
	// cost grows with their square: more get 400 graphql-too-many-fields.
	// Default 250 (GraphiQL's introspection query writes about 80).
	MaxFields int `json:"max_fields,omitempty"`
	// MaxQueryLength bounds the query text, in bytes; longer ones get 400
	// before parsing. Default 32 KiB.
	MaxQueryLength int `json:"max_query_length,omitempty"`
	// MaxBody bounds a POST body, in bytes (413 beyond). Default 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// ReadTimeout bounds the reading of a POST body (408 beyond). Default 30s.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`
	// UpstreamPath, when set, is the path the request is forwarded to (the
	// upstream's endpoint, /api/graphql for Hub Chantier); the handlers
	// outside this one keep seeing the client's path. Default: unchanged.
	UpstreamPath string `json:"upstream_path,omitempty"`

	idx *schemaIndex
	log *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_graphql",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the schema (a file read, no network) and registers the
// metrics.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	if h.MaxDepth == 0 {
		h.MaxDepth = DefaultMaxDepth
	}
	if h.MaxCost == 0 {
		h.MaxCost = DefaultMaxCost
	}
	if h.MaxFields == 0 {
		h.MaxFields = DefaultMaxFields
	}
	if h.MaxQueryLength == 0 {
		h.MaxQueryLength = DefaultMaxQueryLength
	}
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.ReadTimeout == 0 {
		h.ReadTimeout = caddy.Duration(DefaultReadTimeout)
	}
	if h.Schema == "" {
		return fmt.Errorf("hub_graphql: schema is required")
	}
	idx, err := loadSchema(h.Schema)
	if err != nil {
		return err
	}
	idx.maxFields = h.MaxFields
	h.idx = idx
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), operations, costs); err != nil {
		return fmt.Errorf("hub_graphql metrics: %w", err)
	}
	return nil
}

// Validate checks the limits.
func (h *Handler) Validate() error {
	if h.MaxDepth < 1 || h.MaxCost < 1 || h.MaxFields < 1 || h.MaxQueryLength < 1 || h.MaxBody < 1 || h.ReadTimeout < 0 {
		return fmt.Errorf("hub_graphql: max_depth, max_cost, max_fields, max_query_length and max_body must be positive")
	}
	if h.UpstreamPath != "" && !strings.HasPrefix(h.UpstreamPath, "/") {
		return fmt.Errorf("hub_graphql: upstream_path %q must start with /", h.UpstreamPath)
	}
	return nil
}

// ServeHTTP analyses the operation and passes it on, or refuses it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	req, body, ref := h.readRequest(w, r)
	if ref != nil {
		return h.refuse(w, r, ref)
	}
	if req == nil {
		// GET without a query: the GraphiQL page (or the upstream's 404
		// when introspection is off): nothing to analyse or to charge.
		return next.ServeHTTP(w, h.forwarded(r, nil))
	}
	if len(req.Query) > h.MaxQueryLength {
		return h.refuse(w, r, &refusalHTTP{status: http.StatusBadRequest, slug: "graphql-query-too-long", title: "GraphQL query too long",
			detail: "the query exceeds " + strconv.Itoa(h.MaxQueryLength) + " bytes"})
	}
	a, rf := h.idx.analyze(req)
	if rf != nil {
		return h.refuse(w, r, &refusalHTTP{status: http.StatusBadRequest, slug: rf.slug, title: rf.title, errs: rf.errs})
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && a.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		return h.refuse(w, r, &refusalHTTP{status: http.StatusMethodNotAllowed, slug: "method-not-allowed", title: "Method Not Allowed",
			detail: "GraphQL mutations are sent with POST"})
	}
	if a.Depth > h.MaxDepth {
		return h.refuse(w, r, &refusalHTTP{status: http.StatusBadRequest, slug: "graphql-too-deep", title: "GraphQL query too deep",
			detail: fmt.Sprintf("the operation's depth is %d; at most %d is allowed", a.Depth, h.MaxDepth), analysis: a})
	}
	if a.Cost > h.MaxCost {
		return h.refuse(w, r, &refusalHTTP{status: http.StatusBadRequest, slug: "graphql-too-complex", title: "GraphQL query too complex",
			detail: fmt.Sprintf("the operation costs %d; the budget is %d (docs/graphql.md, cost model)", a.Cost, h.MaxCost), analysis: a})
	}
	if ref := h.authorize(r, a); ref != nil {
		return h.refuse(w, r, ref)
	}
	hub.SetCost(r, a.Cost)
	hub.SetGraphQLOperation(r, &hub.GraphQLOperation{Name: boundName(a.Name), Type: string(a.Operation), RootFields: a.RootFields, Cost: a.Cost})
	operations.WithLabelValues(string(a.Operation), "forwarded").Inc()
	costs.WithLabelValues(string(a.Operation)).Observe(float64(a.Cost))
	return next.ServeHTTP(w, h.forwarded(r, body))
}

// forwarded is the request the inner handlers see: the body put back (it
// was read whole) and the path set to UpstreamPath. It is a copy, so the
// outer handlers (hub_audit, hub_metrics) keep the client's path.
func (h *Handler) forwarded(r *http.Request, body []byte) *http.Request {
	if body != nil {
		restoreBody(r, body)
	}
	if h.UpstreamPath == "" {
		return r
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath = h.UpstreamPath, ""
	r2.URL = &u
	return r2
}

// authorize checks that the caller holds, for each resource a root field
// names, <resource>:read (query) or <resource>:write (mutation), or read /
// write, or <resource>:*: the scopes hub_auth derives for the equivalent
// REST requests.
func (h *Handler) authorize(r *http.Request, a *Analysis) *refusalHTTP {
	if len(a.Resources) == 0 {
		return nil
	}
	id := hub.IdentityOf(r)
	if id.Anonymous() {
		return &refusalHTTP{status: http.StatusUnauthorized, slug: "unauthorized", title: "Unauthorized",
			detail: "this operation needs an authenticated caller", challenge: `Bearer realm="hubgate"`}
	}
	act := "read"
	if a.Operation == ast.Mutation {
		act = "write"
	}
	var missing []string
	for _, res := range a.Resources {
		if !grantsAny(id.Scopes, []string{act, res + ":" + act, res + ":*"}) {
			missing = append(missing, res+":"+act)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &refusalHTTP{status: http.StatusForbidden, slug: "insufficient-scope", title: "Insufficient scope",
		detail:    "the credential lacks the scopes " + strings.Join(missing, ", ") + " (or " + act + ")",
		challenge: fmt.Sprintf(`Bearer realm="hubgate", error="insufficient_scope", scope=%q`, strings.Join(missing, " ")), analysis: a}
}

// maxOperationName bounds the operation name kept for the audit record.
const maxOperationName = 256

// boundName keeps at most maxOperationName bytes of a name (GraphQL names
// are ASCII, so no rune is split).
func boundName(n string) string {
	if len(n) > maxOperationName {
		return n[:maxOperationName]
	}
	return n
}

// grantsAny reports whether one of have satisfies one of need; "x:*"
// grants "x:read" and "x:write" (hub_auth's rule).
func grantsAny(have, need []string) bool {
	for _, n := range need {
		for _, h := range have {
			if h == n || (strings.HasSuffix(h, ":*") && strings.HasPrefix(n, h[:len(h)-1])) {
				return true
			}
		}
	}
	return false
}

// operations and costs are the module's metrics, one per process.
var (
	operations = hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_graphql_operations_total",
		Help: "GraphQL operations seen by hub_graphql, by operation type (query, mutation, none) and outcome (forwarded or the refusal's problem slug).",
	}, []string{"operation", "outcome"})
	costs = hub.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hub_graphql_operation_cost",
		Help:    "Cost of the GraphQL operations forwarded, in cost units (docs/graphql.md).",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000},
	}, []string{"operation"})
)

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
