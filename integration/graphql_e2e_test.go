package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// gql POSTs a GraphQL operation through the gateway.
func (s *stack) gql(query string, vars map[string]any, hdr ...string) response {
	s.t.Helper()
	body := map[string]any{"query": query}
	if vars != nil {
		body["variables"] = vars
	}
	return s.gwDo("POST", "/graphql", body, hdr...)
}

// gqlErrorCode is the extensions.code of the first GraphQL error.
func gqlErrorCode(t *testing.T, r response) string {
	t.Helper()
	var body struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("status %d, no GraphQL errors in %s", r.status, r.body)
	}
	c, _ := body.Errors[0].Extensions["code"].(string)
	return c
}

// remaining reads r= of the per-key policy in the RateLimit header.
func remaining(t *testing.T, r response) int {
	t.Helper()
	m := regexp.MustCompile(`"per-key";r=(\d+)`).FindStringSubmatch(r.header.Get("RateLimit"))
	if m == nil {
		t.Fatalf("no per-key RateLimit in %q", r.header.Get("RateLimit"))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestGraphQLE2E runs GraphQL through the real gateway and upstream on
// every storage × store: queries and mutations with REST's rules, depth and
// cost refused before the upstream, scopes per root field, the rate
// limiter charged the operation's cost, and the operation in the audit
// record.
func TestGraphQLE2E(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := newStack(t, b, "HUB_RATE_LIMIT=1000/hour")
			s.createUser("root@example.com", "admin")
			jwt := s.login("root@example.com", "correct-horse-battery")
			admin := bearer(jwt)
			_, rwKey := s.createKey(jwt, map[string]any{"name": "rw", "scopes": []string{"read", "write"}})
			_, roKey := s.createKey(jwt, map[string]any{"name": "ro", "scopes": []string{"chantiers:read"}})
			rw, ro := bearer(rwKey), bearer(roKey)

			// A mutation with REST's defaults and ETag, then a stale ifMatch.
			r := s.gql(`mutation New($in: ChantierInput!) { createChantier(input: $in) { id nom statut etag } }`,
				map[string]any{"in": map[string]any{"nom": "Tour", "budget": 1000}}, rw...)
			if r.status != 200 || strings.Contains(string(r.body), `"errors"`) {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			created := r.json(t)["data"].(map[string]any)["createChantier"].(map[string]any)
			id := created["id"].(string)
			if created["statut"] != "planifie" || created["etag"] != `"v1"` {
				t.Fatalf("created %v", created)
			}
			r = s.gql(`mutation($id: ID!) { updateChantier(id: $id, input: {statut: "en_cours"}, ifMatch: "\"v9\"") { id } }`, map[string]any{"id": id}, rw...)
			if code := gqlErrorCode(t, r); code != "precondition-failed" {
				t.Fatalf("stale ifMatch: %s", r.body)
			}
			r = s.gql(`mutation Rename($id: ID!) { updateChantier(id: $id, input: {nom: "Tour GraphQL"}, ifMatch: "\"v1\"") { etag } }`, map[string]any{"id": id}, rw...)
			if r.status != 200 || strings.Contains(string(r.body), `"errors"`) || r.header.Get("X-Hub-Changes") != "" {
				t.Fatalf("update with the current ifMatch: %d %s (X-Hub-Changes %q)", r.status, r.body, r.header.Get("X-Hub-Changes"))
			}
			renameRID := r.header.Get("X-Request-Id")
			r = s.gql(`mutation { createChantier(input: {nom: "x", date_debut: "2026-05-01", date_fin: "2026-04-01"}) { id } }`, nil, rw...)
			if code := gqlErrorCode(t, r); code != "validation" {
				t.Fatalf("REST validation: %s", r.body)
			}
			r = s.gql(`{ users(first: 1, filter: {role: "admin"}) { nodes { id nom } } }`, nil, rw...)
			root := r.json(t)["data"].(map[string]any)["users"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["id"].(string)
			for i := range 3 {
				a := s.gwDo("POST", "/api/v1/affectations", map[string]any{"chantier_id": json.Number(id), "user_id": json.Number(root), "date_debut": fmt.Sprintf("2026-0%d-01", i+1)}, admin...)
				if a.status != 201 {
					t.Fatalf("affectation: %d %s", a.status, a.body)
				}
			}

			// A query with nested lists, over POST and GET; its cost is charged.
			q := `query Site($id: ID!) { chantier(id: $id) { nom affectations(first: 10) { date_debut user { nom } } } chantiers(first: 5) { nodes { id } pageInfo { hasNextPage } } }`
			before := remaining(t, s.gwDo("GET", "/api/v1/chantiers/"+id, nil, rw...))
			r = s.gql(q, map[string]any{"id": id}, rw...)
			if r.status != 200 || strings.Contains(string(r.body), `"errors"`) {
				t.Fatalf("query: %d %s", r.status, r.body)
			}
			data := r.json(t)["data"].(map[string]any)
			affs := data["chantier"].(map[string]any)["affectations"].([]any)
			if len(affs) != 3 || affs[0].(map[string]any)["user"].(map[string]any)["nom"] != "root" {
				t.Fatalf("nested: %s", r.body)
			}
			// chantier: 1 + affectations 10 × (user 1) = 11; chantiers:
			// 5 × (nodes 1 + pageInfo 1) = 10: 21 units, where a REST call takes 1.
			if got := before - remaining(t, r); got != 21 {
				t.Fatalf("the query took %d units of the per-key window, want its cost 21", got)
			}
			rid := r.header.Get("X-Request-Id")
			g := s.gwDo("GET", "/graphql?query="+url.QueryEscape(q)+"&variables="+url.QueryEscape(`{"id":"`+id+`"}`), nil, rw...)
			if g.status != 200 || !strings.Contains(string(g.body), "Tour GraphQL") {
				t.Fatalf("GET query: %d %s", g.status, g.body)
			}
			if g = s.gwDo("GET", "/graphql?query="+url.QueryEscape(`mutation { deleteChantier(id: "`+id+`") }`), nil, rw...); g.status != 405 {
				t.Fatalf("mutation over GET: %d %s", g.status, g.body)
			}

			// Refused before the upstream: depth, cost, scopes.
			deep := `{ chantiers(first: 1) { edges { node { affectations(first: 1) { chantier { responsable { nom } } } } } } }`
			if r = s.gql(deep, nil, rw...); r.status != 400 || gqlErrorCode(t, r) != "graphql-too-deep" {
				t.Fatalf("deep: %d %s", r.status, r.body)
			}
			costly := `{ a: chantiers(first: 100) { nodes { affectations(first: 100) { id } } } }`
			if r = s.gql(costly, nil, rw...); r.status != 400 || gqlErrorCode(t, r) != "graphql-too-complex" {
				t.Fatalf("costly: %d %s", r.status, r.body)
			}
			if r = s.gql(`{ chantier(id: "`+id+`") { nom } }`, nil, ro...); r.status != 200 {
				t.Fatalf("chantiers:read key reading a chantier: %d %s", r.status, r.body)
			}
			if r = s.gql(`{ pointages(first: 1) { nodes { id } } }`, nil, ro...); r.status != 403 || gqlErrorCode(t, r) != "insufficient-scope" ||
				!strings.Contains(r.header.Get("WWW-Authenticate"), `scope="pointages:read"`) {
				t.Fatalf("chantiers:read key reading pointages: %d %s", r.status, r.body)
			}
			if r = s.gql(`mutation { deleteChantier(id: "`+id+`") }`, nil, ro...); r.status != 403 || gqlErrorCode(t, r) != "insufficient-scope" {
				t.Fatalf("chantiers:read key deleting: %d %s", r.status, r.body)
			}
			if r = s.gql(`{ stats }`, nil); r.status != 401 {
				t.Fatalf("anonymous: %d %s", r.status, r.body)
			}

			// The audit record names the operation.
			var rec map[string]any
			eventually(t, 20*time.Second, "the GraphQL request's audit record", func() bool {
				recs := s.auditRecords(admin, rid)
				if len(recs) == 1 {
					rec = recs[0]
				}
				return rec != nil
			})
			op, _ := rec["graphql"].(map[string]any)
			if rec["endpoint"] != "/graphql" || op == nil || op["operation_name"] != "Site" || op["operation_type"] != "query" ||
				fmt.Sprint(op["root_fields"]) != "[chantier chantiers]" || op["cost"] != float64(21) {
				t.Fatalf("audit record %v", rec)
			}
			// A mutation's record has its before/after, as a REST write's.
			var renamed map[string]any
			eventually(t, 20*time.Second, "the mutation's audit record", func() bool {
				if recs := s.auditRecords(admin, renameRID); len(recs) == 1 {
					renamed = recs[0]
				}
				return renamed != nil
			})
			ch, _ := renamed["changes"].(map[string]any)
			was, _ := ch["before"].(map[string]any)
			after, _ := ch["after"].(map[string]any)
			if was["nom"] != "Tour" || after["nom"] != "Tour GraphQL" ||
				renamed["graphql"].(map[string]any)["operation_type"] != "mutation" {
				t.Fatalf("mutation audit record %v", renamed)
			}
		})
	}
}

// TestGraphQLIntrospectionE2E: with introspection on (the default) the
// GraphiQL page is served through the gateway without credentials and
// without any other origin, and __schema answers; with
// HUB_GRAPHQL_INTROSPECTION=off neither.
func TestGraphQLIntrospectionE2E(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("introspection=%v", on), func(t *testing.T) {
			var upEnv []string
			if !on {
				upEnv = []string{"HUB_GRAPHQL_INTROSPECTION=off"}
			}
			s := newStackEnv(t, upEnv)
			s.createUser("root@example.com", "admin")
			jwt := bearer(s.login("root@example.com", "correct-horse-battery"))
			r := s.gql(`{ __schema { queryType { name } } }`, nil, jwt...)
			if got := r.status == 200 && strings.Contains(string(r.body), `"Query"`); got != on {
				t.Fatalf("__schema with introspection %v: %d %s", on, r.status, r.body)
			}
			if !on {
				wantProblem(t, "__schema, introspection off", r, 400, "introspection-disabled")
				if gqlErrorCode(t, r) != "introspection-disabled" {
					t.Fatalf("errors: %s", r.body)
				}
			}
			// A schema query deeper than max_depth: introspection is exempt.
			r = s.gql(`{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`, nil, jwt...)
			if got := r.status == 200 && !strings.Contains(string(r.body), `"errors"`); got != on {
				t.Fatalf("deep introspection with introspection %v: %d %.300s", on, r.status, r.body)
			}
			page := s.gwDo("GET", "/graphql", nil)
			if !on {
				if page.status != 404 {
					t.Fatalf("page with introspection off: %d %s", page.status, page.body)
				}
				return
			}
			if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
				!strings.Contains(page.header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Fatalf("page: %d %v", page.status, page.header)
			}
			if strings.Contains(string(page.body), "://") {
				t.Fatalf("the page names another origin:\n%s", page.body)
			}
			for _, m := range regexp.MustCompile(`(?:src|href)="\?asset=([^"]+)"`).FindAllStringSubmatch(string(page.body), -1) {
				if a := s.gwDo("GET", "/graphql?asset="+m[1], nil); a.status != 200 || len(a.body) == 0 {
					t.Fatalf("asset %s: %d", m[1], a.status)
				}
			}
		})
	}
}

// newStackEnv is newStack (SQLite, memory store) with an upstream
// environment.
func newStackEnv(t *testing.T, upEnv []string) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := t.TempDir()
	opts := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: dir, ExtraEnv: upEnv}
	up, err := harness.StartUpstream(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: opts.Secret, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s\nupstream log tail:\n%s", gw.Tail(3000), up.Tail(3000))
		}
	})
	return &stack{t: t, up: up, gw: gw, secret: opts.Secret, client: &http.Client{Timeout: 15 * time.Second}}
}

// TestGraphQLCostRateLimitE2E: with 30 units an hour per key, a query of
// cost 20 passes (10 left), a second one is refused with 429 without
// consuming, and a query of cost 1 still passes: the limiter counts cost,
// not requests, on the memory and Redis stores alike.
func TestGraphQLCostRateLimitE2E(t *testing.T) {
	for _, b := range []backend{backends[0], backends[1]} {
		t.Run(b.name, func(t *testing.T) {
			s := newStack(t, b, "HUB_RATE_LIMIT=30/hour")
			s.createUser("root@example.com", "admin")
			_, key := s.createKey(s.login("root@example.com", "correct-horse-battery"), map[string]any{"name": "k", "scopes": []string{"read"}})
			k := bearer(key)
			q := `{ chantiers(first: 20) { nodes { id } } }`
			r := s.gql(q, nil, k...)
			if r.status != 200 || remaining(t, r) != 10 {
				t.Fatalf("cost-20 query: %d, RateLimit %q", r.status, r.header.Get("RateLimit"))
			}
			r = s.gql(q, nil, k...)
			wantProblem(t, "second cost-20 query", r, 429, "rate-limited")
			if remaining(t, r) != 10 || r.header.Get("Retry-After") == "" {
				t.Fatalf("refused query: RateLimit %q, Retry-After %q", r.header.Get("RateLimit"), r.header.Get("Retry-After"))
			}
			if r = s.gql(`{ chantier(id: "1") { id } }`, nil, k...); r.status != 200 || remaining(t, r) != 9 {
				t.Fatalf("cost-1 query: %d, RateLimit %q", r.status, r.header.Get("RateLimit"))
			}
		})
	}
}
