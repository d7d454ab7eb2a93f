// Package graphql serves the Hub Chantier GraphQL endpoint (POST and GET
// /graphql, docs/graphql.md) over the domain API: the schema is
// configs/graphql/schema.graphql, bound by graph-gophers/graphql-go to
// resolvers that run the equivalent REST requests in process (dispatch.go)
// and load nested lists and references in batches (loader.go).
package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	gg "github.com/graph-gophers/graphql-go"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	schema "github.com/hubchantier/hubgate/configs/graphql"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/domain"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// Path is where the upstream serves GraphQL: the public path, which the
// gateway proxies unchanged; like /api/* it needs the gateway's assertion
// (httpx.RequireAssertion; docs/graphql.md, "Routing").
const Path = httpx.GraphQLPath

// Options configure the endpoint.
type Options struct {
	// Introspection enables __schema/__type queries and the GraphiQL page
	// at GET /graphql (HUB_GRAPHQL_INTROSPECTION, on by default,
	// "off" in production).
	Introspection bool
	// MaxDepth is the upstream's own depth limit, a backstop behind the
	// gateway's (which is the contract: 5 nested selection sets, which
	// graph-gophers, counting the leaves, sees as 6). 0 means 15: GraphiQL's
	// schema query nests ofType down to 13, and the gateway exempts
	// introspection from its depth limit.
	MaxDepth int
}

// Handler serves the GraphQL endpoint.
type Handler struct {
	api    http.Handler
	svc    *domain.Service
	schema *gg.Schema
	opts   Options
}

// New binds the schema to the resolvers: an error means they disagree
// (a field without a resolver), which a test catches. api is the mux
// serving the REST routes the resolvers call.
func New(api http.Handler, svc *domain.Service, opts Options) (*Handler, error) {
	if opts.MaxDepth == 0 {
		opts.MaxDepth = 15
	}
	sopts := []gg.SchemaOpt{gg.MaxDepth(opts.MaxDepth), gg.MaxParallelism(4)}
	if !opts.Introspection {
		sopts = append(sopts, gg.RestrictIntrospection(func(context.Context) bool { return false }))
	}
	s, err := gg.ParseSchema(schema.SDL, &root{}, sopts...)
	if err != nil {
		return nil, err
	}
	return &Handler{api: api, svc: svc, schema: s, opts: opts}, nil
}

// Register adds GET and POST /graphql to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET "+Path, h)
	mux.Handle("POST "+Path, h)
}

// request is a GraphQL-over-HTTP request.
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req request
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		if !q.Has("query") {
			if h.opts.Introspection {
				serveGraphiQL(w, r)
				return
			}
			httpx.Problem(w, r, problem.New(http.StatusNotFound, "not-found", "Not Found",
				"the GraphiQL page is served only while introspection is on; send a query"))
			return
		}
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				httpx.BadRequest(w, r, "variables", "variables must be a JSON object")
				return
			}
		}
		// GraphQL over HTTP: a GET may not mutate.
		if op := operationType(req.Query, req.OperationName); op == ast.Mutation {
			w.Header().Set("Allow", "POST")
			httpx.Problem(w, r, problem.New(http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed",
				"mutations are sent with POST"))
			return
		}
	default:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpx.Problem(w, r, problem.New(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", "the body exceeds 1 MiB"))
			return
		}
		if err != nil || json.Unmarshal(body, &req) != nil {
			httpx.BadRequest(w, r, "body", `the body must be a JSON object {"query": …, "operationName": …, "variables": {…}}`)
			return
		}
	}
	if strings.TrimSpace(req.Query) == "" {
		httpx.BadRequest(w, r, "query", "query is required")
		return
	}
	// graph-gophers answers a disabled introspection with empty data; the
	// client is told instead (GraphQL over HTTP: a request error, 400).
	if !h.opts.Introspection && usesIntrospection(req.Query) {
		msg := "introspection is disabled on this server"
		httpx.Problem(w, r, problem.New(http.StatusBadRequest, "introspection-disabled", "Introspection disabled", msg).
			With("errors", []map[string]any{{"message": msg, "extensions": map[string]any{"code": "introspection-disabled"}}}))
		return
	}
	e := &exec{api: h.api, svc: h.svc, orig: r, claims: httpx.Identity(r)}
	resp := h.schema.Exec(context.WithValue(r.Context(), execKey{}, e), req.Query, req.OperationName, req.Variables)
	status := http.StatusOK
	// Errors without a path refused the request before execution (syntax,
	// validation, unknown operation, introspection off): GraphQL over HTTP
	// answers 400. Field errors (with a path) come with a 200.
	if len(resp.Errors) > 0 && (len(resp.Data) == 0 || string(resp.Data) == "null") {
		status = http.StatusBadRequest
		for _, e := range resp.Errors {
			if len(e.Path) > 0 {
				status = http.StatusOK
			}
		}
	}
	if status == http.StatusBadRequest {
		// Refused before execution: a problem document that is also a
		// GraphQL response (its errors member), as the gateway's refusals.
		httpx.Problem(w, r, problem.New(status, "graphql-validation", "GraphQL validation failed", resp.Errors[0].Message).
			With("errors", resp.Errors))
		return
	}
	reportChanges(w, e)
	out, err := json.Marshal(resp)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// operationType is the type of the operation a document would run, or ""
// when it cannot tell (the executor then reports the error).
func operationType(query, name string) ast.Operation {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return ""
	}
	for _, op := range doc.Operations {
		if name == "" || op.Name == name {
			return op.Operation
		}
	}
	return ""
}

// usesIntrospection reports whether the document selects __schema or
// __type (valid on the query root only, possibly through fragments).
func usesIntrospection(query string) bool {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return false
	}
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Name == "__schema" || s.Name == "__type" || walk(s.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if walk(s.SelectionSet) {
					return true
				}
			}
		}
		return false
	}
	for _, op := range doc.Operations {
		if walk(op.SelectionSet) {
			return true
		}
	}
	for _, f := range doc.Fragments {
		if walk(f.SelectionSet) {
			return true
		}
	}
	return false
}
