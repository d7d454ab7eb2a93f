package hubgraphql

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// Request is a GraphQL-over-HTTP request.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// Analysis is what the gateway learns from an operation before the
// upstream sees it.
type Analysis struct {
	// Operation is query or mutation.
	Operation ast.Operation
	// Name is the operation's name ("" when anonymous).
	Name string
	// RootFields are the root field names, in document order, each once.
	RootFields []string
	// Resources are the resources the root fields need scopes on, each
	// once (introspection fields need none).
	Resources []string
	// Depth is the deepest nesting of selection sets: { a { b } } is 1.
	Depth int
	// Cost is the operation's cost (docs/graphql.md, "Cost model"), ≥ 1.
	Cost int64
}

// costCap bounds computed costs so that no product overflows; any cost
// at the cap is far above every budget.
const costCap = math.MaxInt64 / 4

// refusal is a GraphQL request refused by analysis: 400 with errors.
type refusal struct {
	slug, title string
	errs        gqlerror.List
}

func refuse(slug, title string, errs ...*gqlerror.Error) *refusal {
	return &refusal{slug: slug, title: title, errs: errs}
}

// analyze parses and validates req against the schema, selects the
// operation and measures it. It runs on client input: it never panics
// and its work is linear in the document (fragments are measured once).
func (idx *schemaIndex) analyze(req *Request) (*Analysis, *refusal) {
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil {
		return nil, refuse("graphql-parse", "GraphQL syntax error", gqlerror.WrapIfUnwrapped(err))
	}
	// Validation is quadratic in the fields of one selection set (the
	// overlapping-fields rule): a 32 KiB query repeating one field took
	// seconds of CPU. The parse is linear; the fields are counted on it and
	// a document with too many is refused before validation.
	if n := countSelections(doc); n > idx.maxFields {
		return nil, refuse("graphql-too-many-fields", "GraphQL query has too many fields",
			gqlerror.Errorf("the document selects %d fields; at most %d are allowed", n, idx.maxFields))
	}
	if errs := validator.Validate(idx.schema, doc); len(errs) > 0 {
		return nil, refuse("graphql-validation", "GraphQL validation failed", errs...)
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
		if op == nil {
			return nil, refuse("graphql-validation", "GraphQL validation failed", gqlerror.Errorf("unknown operation %q", req.OperationName))
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return nil, refuse("graphql-validation", "GraphQL validation failed", gqlerror.Errorf("operationName is required when the document has several operations"))
	}
	vars, verr := validator.VariableValues(idx.schema, op, req.Variables)
	if verr != nil {
		return nil, refuse("graphql-validation", "GraphQL validation failed", gqlerror.WrapIfUnwrapped(verr))
	}
	m := &measurer{vars: vars, frags: map[*ast.FragmentDefinition]measure{}}
	a := &Analysis{Operation: op.Operation, Name: op.Name}
	seenField, seenRes := map[string]bool{}, map[string]bool{}
	m.rootFields(op.SelectionSet, func(f *ast.Field) {
		if !seenField[f.Name] {
			seenField[f.Name] = true
			a.RootFields = append(a.RootFields, f.Name)
		}
		if isIntrospection(f.Name) {
			return
		}
		if res := idx.resources[string(op.Operation)+"."+f.Name]; res != "" && !seenRes[res] {
			seenRes[res] = true
			a.Resources = append(a.Resources, res)
		}
	})
	a.Cost = max(m.selection(op.SelectionSet).cost, 1)
	// Introspection (__schema, __type) is exempt from the depth limit: a
	// client's schema query nests ofType ten levels deep. It stays bounded
	// by validation (MaxIntrospectionDepth refuses the cyclic nestings),
	// max_fields and the cost; and the upstream serves it only while
	// introspection is on.
	m.rootFields(op.SelectionSet, func(f *ast.Field) {
		if !isIntrospection(f.Name) {
			a.Depth = max(a.Depth, m.field(f).depth)
		}
	})
	return a, nil
}

// measure is the depth and cost of a selection set.
type measure struct {
	depth int
	cost  int64
}

type measurer struct {
	vars  map[string]any
	frags map[*ast.FragmentDefinition]measure
}

// rootFields calls f for each field of the root selection set, through
// fragments and inline fragments.
func (m *measurer) rootFields(set ast.SelectionSet, f func(*ast.Field)) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			f(s)
		case *ast.InlineFragment:
			m.rootFields(s.SelectionSet, f)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				m.rootFields(s.Definition.SelectionSet, f)
			}
		}
	}
}

// selection measures a selection set: its cost is the sum of its fields'
// (each alias and each fragment spread counts where it appears), its
// depth the deepest field's.
func (m *measurer) selection(set ast.SelectionSet) measure {
	var out measure
	for _, sel := range set {
		var mm measure
		switch s := sel.(type) {
		case *ast.Field:
			mm = m.field(s)
		case *ast.InlineFragment:
			mm = m.selection(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			var ok bool
			if mm, ok = m.frags[s.Definition]; !ok {
				// Validation refused fragment cycles; a spread is measured
				// once however often it is used (no exponential walk).
				mm = m.selection(s.Definition.SelectionSet)
				m.frags[s.Definition] = mm
			}
		}
		out.depth = max(out.depth, mm.depth)
		out.cost = addCap(out.cost, mm.cost)
	}
	return out
}

// field measures one field: a leaf costs 0 and has depth 0; a field with
// a selection costs 1 plus its selection and is one level deeper; a
// @listSize field costs n × max(1, its selection), n being its slicing
// argument's value (assumedSize when absent).
func (m *measurer) field(f *ast.Field) measure {
	if len(f.SelectionSet) == 0 {
		return measure{}
	}
	child := m.selection(f.SelectionSet)
	out := measure{depth: child.depth + 1, cost: addCap(child.cost, 1)}
	if f.Definition != nil {
		if d := f.Definition.Directives.ForName(directiveListSize); d != nil {
			n := m.listSize(f, d)
			out.cost = mulCap(n, max(child.cost, 1))
		}
	}
	return out
}

// listSize is the value of the field's slicing argument, or assumedSize.
func (m *measurer) listSize(f *ast.Field, d *ast.Directive) int64 {
	var n int64
	if a := d.Arguments.ForName("assumedSize"); a != nil && a.Value != nil {
		n, _ = strconv.ParseInt(a.Value.Raw, 10, 64)
	}
	if a := d.Arguments.ForName("slicingArgument"); a != nil && a.Value != nil {
		if v, ok := intValue(f.ArgumentMap(m.vars)[a.Value.Raw]); ok {
			n = v
		}
	}
	return max(n, 0)
}

// intValue reads an argument value as an integer.
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x >= 0 && x < float64(costCap) {
			return int64(x), true
		}
		return costCap, x >= 0
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

func addCap(a, b int64) int64 {
	if a > costCap-b {
		return costCap
	}
	return a + b
}

func mulCap(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > costCap/b {
		return costCap
	}
	return a * b
}

// countSelections counts the selections of every operation and fragment
// definition of doc, each as written (a fragment once, however often it is
// spread).
func countSelections(doc *ast.QueryDocument) int {
	n := 0
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			n++
			switch s := sel.(type) {
			case *ast.Field:
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		walk(f.SelectionSet)
	}
	return n
}
