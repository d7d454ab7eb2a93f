package hubgraphql

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func newHandler(t testing.TB) *Handler {
	t.Helper()
	h := &Handler{MaxDepth: DefaultMaxDepth, MaxCost: 100, MaxFields: DefaultMaxFields, MaxQueryLength: DefaultMaxQueryLength, MaxBody: 4096,
		ReadTimeout: caddy.Duration(DefaultReadTimeout), UpstreamPath: "/api/graphql", idx: repoSchema(t), log: zap.NewNop()}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

// seen is what the next handler saw.
type seen struct {
	ran              bool
	path, body       string
	cost             int64
	op               *hub.GraphQLOperation
	status           int
	problem          map[string]any
	wwwAuthenticate  string
	contentTypeWrote string
}

func send(t *testing.T, h *Handler, method, target, body string, id *hub.Identity) seen {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if id != nil {
		hub.SetIdentity(r, id)
	}
	var s seen
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r2 *http.Request) error {
		s.ran, s.path = true, r2.URL.Path
		b, _ := io.ReadAll(r2.Body)
		s.body = string(b)
		s.cost, s.op = hub.CostOf(r2), hub.GraphQLOperationOf(r2)
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if r.URL.Path != strings.SplitN(target, "?", 2)[0] {
		t.Fatalf("the outer request's path changed to %s", r.URL.Path)
	}
	s.status, s.wwwAuthenticate, s.contentTypeWrote = w.Code, w.Header().Get("WWW-Authenticate"), w.Header().Get("Content-Type")
	if !s.ran {
		if s.contentTypeWrote != problem.ContentType {
			t.Fatalf("refusal content type %q", s.contentTypeWrote)
		}
		_ = json.Unmarshal(w.Body.Bytes(), &s.problem)
	}
	return s
}

func gqlBody(query string) string {
	b, _ := json.Marshal(map[string]any{"query": query})
	return string(b)
}

func (s seen) code(t *testing.T) string {
	t.Helper()
	errs, _ := s.problem["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("refusal without GraphQL errors: %v", s.problem)
	}
	ext := errs[0].(map[string]any)["extensions"].(map[string]any)
	if s.problem["type"] != problem.TypePrefix+ext["code"].(string) {
		t.Fatalf("type %v and extensions.code %v differ", s.problem["type"], ext["code"])
	}
	return ext["code"].(string)
}

var reader = &hub.Identity{Subject: "7", Role: "conducteur", Method: "api_key", KeyID: "k", Scopes: []string{"chantiers:read", "users:read"}}

func TestForwardsAndCharges(t *testing.T) {
	h := newHandler(t)
	q := `query Page { chantiers(first: 10) { nodes { nom responsable { nom } } } }`
	s := send(t, h, "POST", "/graphql", gqlBody(q), reader)
	if !s.ran || s.path != "/api/graphql" || s.body != gqlBody(q) {
		t.Fatalf("forwarded %+v", s)
	}
	if s.cost != 20 || !reflect.DeepEqual(s.op, &hub.GraphQLOperation{Name: "Page", Type: "query", RootFields: []string{"chantiers"}, Cost: 20}) {
		t.Fatalf("cost %d, operation %+v", s.cost, s.op)
	}
	// GET carries queries too.
	s = send(t, h, "GET", "/graphql?query="+url.QueryEscape(`{ chantier(id: 1) { nom } }`), "", reader)
	if !s.ran || s.cost != 1 || s.op.Type != "query" {
		t.Fatalf("GET: %+v", s)
	}
	// A GET without a query (the GraphiQL page) passes, uncharged.
	if s = send(t, h, "GET", "/graphql", "", reader); !s.ran || s.op != nil || s.cost != 1 {
		t.Fatalf("GET page: %+v", s)
	}
}

func TestRefusals(t *testing.T) {
	h := newHandler(t)
	writer := &hub.Identity{Subject: "7", Role: "admin", Method: "jwt", Scopes: []string{"read", "write"}}
	tests := []struct {
		name, method, target, body string
		id                         *hub.Identity
		status                     int
		code                       string
	}{
		{"too deep", "POST", "/graphql", gqlBody(`{ chantiers(first: 1) { edges { node { affectations(first: 1) { chantier { responsable { nom } } } } } } }`), writer, 400, "graphql-too-deep"},
		{"too complex", "POST", "/graphql", gqlBody(`{ chantiers(first: 100) { nodes { affectations(first: 100) { id } } } }`), writer, 400, "graphql-too-complex"},
		{"aliases add up", "POST", "/graphql", gqlBody(`{ a: chantiers(first: 60) { nodes { id } } b: chantiers(first: 60) { nodes { id } } }`), writer, 400, "graphql-too-complex"},
		{"syntax", "POST", "/graphql", gqlBody(`{ chantier(id: 1) {`), writer, 400, "graphql-parse"},
		{"validation", "POST", "/graphql", gqlBody(`{ chantier(id: 1) { password_hash } }`), writer, 400, "graphql-validation"},
		{"read scope missing", "POST", "/graphql", gqlBody(`{ chantier(id: 1) { nom } pointage(id: 2) { id } }`), reader, 403, "insufficient-scope"},
		{"write scope missing", "POST", "/graphql", gqlBody(`mutation { createChantier(input: {nom: "x"}) { id } }`), reader, 403, "insufficient-scope"},
		{"anonymous", "POST", "/graphql", gqlBody(`{ chantier(id: 1) { nom } }`), &hub.Identity{Method: "anonymous"}, 401, "unauthorized"},
		{"mutation over GET", "GET", "/graphql?query=" + url.QueryEscape(`mutation { deleteChantier(id: 1) }`), "", writer, 405, "method-not-allowed"},
		{"not JSON", "POST", "/graphql", `query=x`, writer, 400, "graphql-request"},
		{"body too large", "POST", "/graphql", gqlBody(`{ stats }` + strings.Repeat(" ", 5000)), writer, 413, "body-too-large"},
		{"PUT", "PUT", "/graphql", gqlBody(`{ stats }`), writer, 405, "method-not-allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := send(t, h, tt.method, tt.target, tt.body, tt.id)
			if s.ran || s.status != tt.status || s.code(t) != tt.code {
				t.Fatalf("ran %v status %d problem %v; want %d %s", s.ran, s.status, s.problem, tt.status, tt.code)
			}
			if tt.status == 403 && !strings.Contains(s.wwwAuthenticate, "insufficient_scope") {
				t.Fatalf("403 without the insufficient_scope challenge: %q", s.wwwAuthenticate)
			}
		})
	}
	// A read scope of the resource, <resource>:*, or the generic scope pass.
	for _, scopes := range [][]string{{"pointages:read", "chantiers:*"}, {"read"}} {
		id := &hub.Identity{Subject: "7", Method: "api_key", Scopes: scopes}
		if s := send(t, h, "POST", "/graphql", gqlBody(`{ chantier(id: 1) { nom } pointage(id: 2) { id } }`), id); !s.ran {
			t.Fatalf("scopes %v refused: %v", scopes, s.problem)
		}
	}
}

// FuzzServe: any POST body takes the whole parse path (JSON, GraphQL,
// variables, limits, scopes) without panicking, and either reaches next
// with a cost of at least 1 or is refused with a problem carrying GraphQL
// errors.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		gqlBody(`{ chantier(id: 1) { nom } }`),
		`{"query": "query Q($n: Int) { chantiers(first: $n) { nodes { id } } }", "variables": {"n": 7}}`,
		`{"query": "mutation { createChantier(input: {nom: \"x\"}) { id } }"}`,
		`{"query": "{ __schema { types { name } } }", "operationName": "x"}`,
		`{"query": 1}`, `[]`, `{"query": "{", "variables": "x"}`, ``,
	} {
		f.Add(s)
	}
	h := newHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		hub.SetIdentity(r, &hub.Identity{Subject: "1", Method: "jwt", Scopes: []string{"read", "write"}})
		ran := false
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			ran = true
			if hub.CostOf(r) < 1 || hub.GraphQLOperationOf(r) == nil {
				t.Fatalf("forwarded without cost or operation")
			}
			return nil
		})
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		if !ran {
			var p map[string]any
			if json.Unmarshal(w.Body.Bytes(), &p) != nil || p["errors"] == nil || w.Code < 400 {
				t.Fatalf("refusal %d %s", w.Code, w.Body)
			}
		}
	})
}
