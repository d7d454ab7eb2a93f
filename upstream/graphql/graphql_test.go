package graphql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// TestNoNPlusOne: 20 chantiers with their affectations and each
// affectation's user cost three SELECTs (the page, the affectations of the
// 20, the users of those), not 1 + 20 + 40.
func TestNoNPlusOne(t *testing.T) {
	each(t, Options{}, func(t *testing.T, e *env) {
		var users []int64
		for i := range 4 {
			users = append(users, e.user(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("User %d", i), "ouvrier"))
		}
		for i := range 20 {
			c := e.rest("POST", "/api/v1/chantiers", map[string]any{"nom": fmt.Sprintf("C%02d", i)})
			id := int64(c["id"].(float64))
			for j := range 2 {
				e.rest("POST", "/api/v1/affectations", map[string]any{"chantier_id": id, "user_id": users[(i+j)%4], "date_debut": "2026-01-01"})
			}
		}
		e.queries.Store(0)
		res := e.gql(`{ chantiers(first: 20) { nodes { id nom affectations { id user_id user { nom } } } } }`, nil)
		if len(res.Errors) > 0 || res.status != http.StatusOK {
			t.Fatalf("errors: %s", res.raw)
		}
		nodes := res.Data["chantiers"].(map[string]any)["nodes"].([]any)
		if len(nodes) != 20 {
			t.Fatalf("%d chantiers, want 20", len(nodes))
		}
		for _, n := range nodes {
			affs := n.(map[string]any)["affectations"].([]any)
			if len(affs) != 2 {
				t.Fatalf("chantier %v: %d affectations, want 2", n, len(affs))
			}
			for _, a := range affs {
				am := a.(map[string]any)
				u := am["user"].(map[string]any)
				idx, _ := strconv.Atoi(am["user_id"].(string))
				if u["nom"] != fmt.Sprintf("User %d", idx-int(users[0])) {
					t.Fatalf("affectation %v: wrong user", am)
				}
			}
		}
		if got := e.queries.Load(); got != 3 {
			t.Fatalf("%d SQL queries for 20 chantiers × affectations × users, want 3", got)
		}
	})
}

// TestQueriesAndMutations runs reads and writes with REST's rules:
// validation, If-Match, permissions, and problem types as extensions.code.
func TestQueriesAndMutations(t *testing.T) {
	each(t, Options{Introspection: true}, func(t *testing.T, e *env) {
		owner := e.user("owner@example.com", "Owner", "conducteur")
		res := e.gql(`mutation($in: ChantierInput!) { createChantier(input: $in) { id nom statut etag responsable { nom } } }`,
			map[string]any{"in": map[string]any{"nom": "Tour A", "responsable_id": strconv.FormatInt(owner, 10)}})
		if len(res.Errors) > 0 {
			t.Fatalf("create: %s", res.raw)
		}
		c := res.Data["createChantier"].(map[string]any)
		if c["nom"] != "Tour A" || c["statut"] != "planifie" || c["responsable"].(map[string]any)["nom"] != "Owner" {
			t.Fatalf("created %v", c)
		}
		id, etag := c["id"].(string), c["etag"].(string)

		// REST validation rules, REST problem type.
		res = e.gql(`mutation { createChantier(input: {nom: "x", budget: -1}) { id } }`, nil)
		if res.code() != "validation" || res.status != http.StatusOK {
			t.Fatalf("negative budget: %s", res.raw)
		}
		// ifMatch: a stale tag is precondition-failed, the current one wins.
		upd := `mutation($id: ID!, $m: String) { updateChantier(id: $id, input: {statut: "en_cours"}, ifMatch: $m) { statut etag } }`
		if res = e.gql(upd, map[string]any{"id": id, "m": `"v999"`}); res.code() != "precondition-failed" {
			t.Fatalf("stale ifMatch: %s", res.raw)
		}
		if res = e.gql(upd, map[string]any{"id": id, "m": etag}); len(res.Errors) > 0 || res.Data["updateChantier"].(map[string]any)["statut"] != "en_cours" {
			t.Fatalf("update: %s", res.raw)
		}
		// Reads: one row, a connection with a filter, a missing row.
		res = e.gql(`query($id: ID!) { chantier(id: $id) { nom statut } chantiers(first: 1, filter: {statut: "en_cours"}) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"id": id})
		if len(res.Errors) > 0 || res.Data["chantier"].(map[string]any)["statut"] != "en_cours" {
			t.Fatalf("read: %s", res.raw)
		}
		if res = e.gql(`{ chantier(id: "424242") { id } }`, nil); res.code() != "not-found" {
			t.Fatalf("missing: %s", res.raw)
		}
		// Permissions through the matrix: an ouvrier may not create a chantier.
		e.who = &assertion.Claims{Subject: strconv.FormatInt(e.user("o@example.com", "O", "ouvrier"), 10), Role: "ouvrier", Method: "jwt", Scopes: []string{"read", "write"}}
		if res = e.gql(`mutation { createChantier(input: {nom: "y"}) { id } }`, nil); res.code() != "permission-denied" {
			t.Fatalf("ouvrier create: %s", res.raw)
		}
		// ... nor see a chantier it is not assigned to.
		if res = e.gql(`query($id: ID!) { chantier(id: $id) { id } }`, map[string]any{"id": id}); res.code() != "not-found" {
			t.Fatalf("ouvrier read: %s", res.raw)
		}
		// Syntax errors are refused before execution: 400.
		if res = e.gql(`{ chantier(id: `, nil); res.status != http.StatusBadRequest || len(res.Errors) == 0 {
			t.Fatalf("syntax error: %d %s", res.status, res.raw)
		}
	})
}

// TestIntrospectionSwitch: __schema answers only while Introspection is on.
func TestIntrospectionSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(strconv.FormatBool(on), func(t *testing.T) {
			each(t, Options{Introspection: on}, func(t *testing.T, e *env) {
				res := e.gql(`{ __schema { queryType { name } } }`, nil)
				got := res.Data != nil && res.Data["__schema"] != nil
				if got != on || (!on && (res.status != http.StatusBadRequest || res.code() != "introspection-disabled")) {
					t.Fatalf("introspection %v: %d %s", on, res.status, res.raw)
				}
				// __typename is not introspection: always answered.
				if res = e.gql(`{ __typename }`, nil); res.status != http.StatusOK || res.Data["__typename"] != "Query" {
					t.Fatalf("__typename: %s", res.raw)
				}
				// GraphiQL's full schema query (ofType ten levels deep).
				res = e.gql(introspectionQuery, nil)
				if got := res.status == http.StatusOK && len(res.Errors) == 0; got != on {
					t.Fatalf("GraphiQL's introspection query with introspection %v: %d %.300s", on, res.status, res.raw)
				}
			})
		})
	}
}

// TestGraphiQLPage: the page and its assets come from this endpoint, with
// a CSP that allows no other origin and no inline script; with
// introspection off there is no page.
func TestGraphiQLPage(t *testing.T) {
	each(t, Options{Introspection: true}, func(t *testing.T, e *env) {
		page := e.get(Path)
		if page.Code != http.StatusOK || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("page: %d %s", page.Code, page.Header().Get("Content-Type"))
		}
		csp := page.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-eval") {
			t.Fatalf("CSP %q", csp)
		}
		body := page.Body.String()
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
			t.Fatalf("the page names another origin:\n%s", body)
		}
		srcs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1)
		if len(srcs) < 5 {
			t.Fatalf("assets %v", srcs)
		}
		for _, m := range srcs {
			a := e.get(Path + m[1])
			if a.Code != http.StatusOK || a.Body.Len() == 0 {
				t.Fatalf("asset %s: %d", m[1], a.Code)
			}
		}
		if a := e.get(Path + "?asset=../../handler.go"); a.Code != http.StatusNotFound {
			t.Fatalf("path traversal: %d", a.Code)
		}
	})
	each(t, Options{}, func(t *testing.T, e *env) {
		if page := e.get(Path); page.Code != http.StatusNotFound {
			t.Fatalf("page with introspection off: %d", page.Code)
		}
	})
}

// introspectionQuery is graphql-js' getIntrospectionQuery(), which
// GraphiQL sends.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// TestMutationChanges: a mutation's before/after reach the gateway's audit
// in X-Hub-Changes, as a REST write's do; several writes are listed in
// order; reads report none.
func TestMutationChanges(t *testing.T) {
	each(t, Options{}, func(t *testing.T, e *env) {
		changes := func(query string) map[string]any {
			t.Helper()
			b, _ := json.Marshal(map[string]any{"query": query})
			r := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(b))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(httpx.WithIdentity(r.Context(), e.who))
			w := httptest.NewRecorder()
			e.mux.ServeHTTP(w, r)
			if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"errors"`) {
				t.Fatalf("%s: %d %s", query, w.Code, w.Body)
			}
			h := w.Header().Get(auditchain.ChangesHeader)
			if h == "" {
				return nil
			}
			raw, err := auditchain.DecodeChanges(h)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			return m
		}
		// A create reports nothing, as over REST (the record's 201 names it).
		if got := changes(`mutation { createChantier(input: {nom: "A"}) { id } }`); got != nil {
			t.Fatalf("create reported changes: %v", got)
		}
		one := changes(`mutation { updateChantier(id: "1", input: {nom: "A2"}) { id } }`)
		if after, _ := one["after"].(map[string]any); after == nil || after["nom"] != "A2" || one["before"].(map[string]any)["nom"] != "A" {
			t.Fatalf("one update: %v", one)
		}
		two := changes(`mutation { a: updateChantier(id: "1", input: {nom: "B"}) { id } b: deleteChantier(id: "1") }`)
		ops, _ := two["operations"].([]any)
		if len(ops) != 2 || ops[0].(map[string]any)["after"].(map[string]any)["nom"] != "B" || ops[1].(map[string]any)["after"] != nil {
			t.Fatalf("update then delete: %v", two)
		}
		if got := changes(`{ chantiers { nodes { id } } }`); got != nil {
			t.Fatalf("a read reported changes: %v", got)
		}
	})
}
