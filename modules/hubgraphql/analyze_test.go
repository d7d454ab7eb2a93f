package hubgraphql

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// repoSchema loads the repository's SDL (configs/graphql/schema.graphql).
func repoSchema(t testing.TB) *schemaIndex {
	t.Helper()
	idx, err := loadSchema(filepath.Join(testutil.RepoRoot(), "configs", "graphql", "schema.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestAnalyze(t *testing.T) {
	idx := repoSchema(t)
	tests := []struct {
		name      string
		query     string
		vars      map[string]any
		op        string
		roots     []string
		resources []string
		depth     int
		cost      int64
	}{
		{"one row", `{ chantier(id: 1) { nom } }`, nil, "query", []string{"chantier"}, []string{"chantiers"}, 1, 1},
		{"a scalar root costs at least 1", `{ stats }`, nil, "query", []string{"stats"}, []string{"stats"}, 0, 1},
		{"connection: first × child cost", `{ chantiers(first: 20) { nodes { id } } }`, nil, "query", []string{"chantiers"}, []string{"chantiers"}, 2, 20},
		{"default first is assumedSize", `{ chantiers { nodes { id } } }`, nil, "query", []string{"chantiers"}, []string{"chantiers"}, 2, 20},
		{"first from a variable", `query Q($n: Int) { chantiers(first: $n) { nodes { id } } }`, map[string]any{"n": 7}, "query", []string{"chantiers"}, []string{"chantiers"}, 2, 7},
		{"nested lists multiply", `{ chantiers(first: 10) { nodes { id affectations(first: 5) { user { nom } } } } }`, nil, "query",
			[]string{"chantiers"}, []string{"chantiers"}, 4, 10 * (1 + 5*1)},
		{"aliases count each", `{ a: chantier(id: 1) { nom } b: chantier(id: 2) { nom } c: pointage(id: 3) { id } }`, nil, "query",
			[]string{"chantier", "pointage"}, []string{"chantiers", "pointages"}, 1, 3},
		{"fragments count where spread", `query { x: chantier(id: 1) { ...F } y: chantier(id: 2) { ...F } } fragment F on Chantier { responsable { nom } }`, nil, "query",
			[]string{"chantier"}, []string{"chantiers"}, 2, 4},
		{"root fields through fragments", `query { ...R } fragment R on Query { users(first: 2) { nodes { id } } }`, nil, "query",
			[]string{"users"}, []string{"users"}, 2, 2},
		{"mutation", `mutation M { deleteChantier(id: 1) }`, nil, "mutation", []string{"deleteChantier"}, []string{"chantiers"}, 0, 1},
		{"introspection needs no resource, and no depth", `{ __typename __schema { queryType { name } } }`, nil, "query", []string{"__typename", "__schema"}, nil, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rf := idx.analyze(&Request{Query: tt.query, Variables: tt.vars})
			if rf != nil {
				t.Fatalf("refused: %s %v", rf.slug, rf.errs)
			}
			if string(a.Operation) != tt.op || !reflect.DeepEqual(a.RootFields, tt.roots) || !reflect.DeepEqual(a.Resources, tt.resources) ||
				a.Depth != tt.depth || a.Cost != tt.cost {
				t.Fatalf("got %s %v %v depth %d cost %d; want %s %v %v depth %d cost %d",
					a.Operation, a.RootFields, a.Resources, a.Depth, a.Cost, tt.op, tt.roots, tt.resources, tt.depth, tt.cost)
			}
		})
	}
}

func TestAnalyzeRefusals(t *testing.T) {
	idx := repoSchema(t)
	tests := []struct{ name, query, op, slug string }{
		{"syntax", `{ chantier(id: 1) { nom }`, "", "graphql-parse"},
		{"unknown field", `{ chantier(id: 1) { password_hash } }`, "", "graphql-validation"},
		{"fragment cycle", `{ chantier(id: 1) { ...A } } fragment A on Chantier { responsable { id } ...B } fragment B on Chantier { ...A }`, "", "graphql-validation"},
		{"two operations, no name", `query A { stats } query B { stats }`, "", "graphql-validation"},
		{"unknown operation", `query A { stats }`, "B", "graphql-validation"},
		{"bad variable", `query($n: Int) { chantiers(first: $n) { nodes { id } } }`, "", ""},
		// Validation is quadratic in repeated fields: refused before it.
		{"too many fields", "{ chantier(id: 1) {" + strings.Repeat(" nom", 300) + " } }", "", "graphql-too-many-fields"},
		{"too many fields in fragments", "{ chantier(id: 1) { ...F } } fragment F on Chantier {" + strings.Repeat(" a: nom", 251) + " }", "", "graphql-too-many-fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Query: tt.query, OperationName: tt.op}
			if tt.slug == "" {
				req.Variables = map[string]any{"n": "many"}
				tt.slug = "graphql-validation"
			}
			_, rf := idx.analyze(req)
			if rf == nil || rf.slug != tt.slug || len(rf.errs) == 0 {
				t.Fatalf("got %+v, want %s", rf, tt.slug)
			}
		})
	}
}

// TestSchemaNeedsResources: a root field without @resource could not be
// authorized: the schema is refused at load time.
func TestSchemaNeedsResources(t *testing.T) {
	_, err := parseSchema("t", `directive @resource(name: String!) on FIELD_DEFINITION
type Query { a: Int @resource(name: "as") b: Int }`)
	if err == nil || !strings.Contains(err.Error(), "query.b") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzAnalyze: the parse path never panics, and what it accepts has a
// cost of at least 1 and a depth within the query's size.
func FuzzAnalyze(f *testing.F) {
	idx := repoSchema(f)
	for _, s := range []string{
		`{ chantier(id: 1) { nom } }`,
		`{ chantiers(first: 100) { edges { node { affectations(first: 100) { user { nom } } } } } }`,
		`query Q($n: Int) { a: chantiers(first: $n) { nodes { ...F } } } fragment F on Chantier { id responsable { nom } }`,
		`mutation { createChantier(input: {nom: "x"}) { id } }`,
		`{ __schema { types { name fields { name } } } }`,
		`{ ...on Query { stats } }`,
		`{`, `query { chantiers(first: 99999999999) { nodes { id } } }`,
	} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, query, opName string) {
		a, rf := idx.analyze(&Request{Query: query, OperationName: opName, Variables: map[string]any{"n": 3}})
		if rf != nil {
			if len(rf.errs) == 0 {
				t.Fatalf("refusal without errors: %+v", rf)
			}
			return
		}
		if a.Cost < 1 || a.Cost > costCap || a.Depth < 0 || a.Depth > len(query) {
			t.Fatalf("analysis out of range: %+v", a)
		}
	})
}

// introspectionQuery is graphql-js' getIntrospectionQuery(), which
// GraphiQL sends: ten levels of ofType.
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

// TestIntrospectionQueryPasses: GraphiQL's schema query is within every
// limit of the default configuration (depth does not apply to it).
func TestIntrospectionQueryPasses(t *testing.T) {
	idx := repoSchema(t)
	a, rf := idx.analyze(&Request{Query: introspectionQuery})
	if rf != nil {
		t.Fatalf("refused: %s %v", rf.slug, rf.errs)
	}
	if a.Depth != 0 || a.Cost > DefaultMaxCost || len(a.Resources) != 0 {
		t.Fatalf("analysis %+v", a)
	}
}
