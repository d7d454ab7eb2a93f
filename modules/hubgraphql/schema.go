package hubgraphql

import (
	"fmt"
	"os"
	"sort"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Directive names the schema uses to tell the gateway what it needs
// (configs/graphql/schema.graphql declares them; docs/graphql.md).
const (
	// directiveResource names, on a root field, the resource whose
	// scopes it needs: @resource(name: "…").
	directiveResource = "resource"
	// directiveListSize marks a list field whose length an argument sets:
	// @listSize(slicingArgument: "first", assumedSize: 20).
	directiveListSize = "listSize"
)

// schemaIndex is the loaded schema and what the gateway reads from it.
type schemaIndex struct {
	schema *ast.Schema
	// resources maps "query.<field>" and "mutation.<field>" to the
	// resource named by the root field's @resource.
	resources map[string]string
	// maxFields bounds the selections of a document (Handler.MaxFields).
	maxFields int
}

// loadSchema reads and indexes the SDL at path. Every root field of Query
// and Mutation must carry @resource: a root field without one could not
// be authorized, so the configuration is refused.
func loadSchema(path string) (*schemaIndex, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hub_graphql: schema: %w", err)
	}
	return parseSchema(path, string(b))
}

func parseSchema(name, sdl string) (*schemaIndex, error) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: name, Input: sdl})
	if err != nil {
		return nil, fmt.Errorf("hub_graphql: schema %s: %w", name, err)
	}
	idx := &schemaIndex{schema: s, resources: map[string]string{}, maxFields: DefaultMaxFields}
	var missing []string
	for op, def := range map[ast.Operation]*ast.Definition{ast.Query: s.Query, ast.Mutation: s.Mutation} {
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if isIntrospection(f.Name) {
				continue
			}
			d := f.Directives.ForName(directiveResource)
			var res string
			if d != nil {
				if a := d.Arguments.ForName("name"); a != nil && a.Value != nil {
					res = a.Value.Raw
				}
			}
			if res == "" {
				missing = append(missing, string(op)+"."+f.Name)
				continue
			}
			idx.resources[string(op)+"."+f.Name] = res
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("hub_graphql: schema %s: root fields without @%s(name: …): %v", name, directiveResource, missing)
	}
	if s.Subscription != nil {
		return nil, fmt.Errorf("hub_graphql: schema %s: subscriptions are not supported", name)
	}
	return idx, nil
}

// isIntrospection reports whether a root field is GraphQL's own
// (__schema, __type, __typename): it needs no scope; the upstream decides
// whether introspection is on.
func isIntrospection(name string) bool { return len(name) > 1 && name[0] == '_' && name[1] == '_' }
