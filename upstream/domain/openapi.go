package domain

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// OpenAPI returns the OpenAPI 3.1 document of the v1 domain API, generated
// from the resource metadata (resources.go), so the document cannot drift
// from what the handlers accept. The gateway serves it at /api/openapi.json
// and derives the v2 document from it (hub_version).
func OpenAPI() []byte {
	openapiOnce.Do(func() {
		b, err := json.MarshalIndent(buildOpenAPI(), "", "  ")
		if err != nil {
			panic(err) // only maps, slices and strings: cannot fail
		}
		openapiDoc = b
	})
	return openapiDoc
}

var (
	openapiOnce sync.Once
	openapiDoc  []byte
)

// serveOpenAPI answers GET /api/openapi.json (no caller needed: the
// document describes the API, it holds no data).
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(OpenAPI())
}

type obj = map[string]any

func buildOpenAPI() obj {
	paths := obj{}
	schemas := obj{
		"Problem": obj{
			"type":        "object",
			"description": "RFC 9457 problem details; validation problems list the bad fields in errors.",
			"properties": obj{
				"type": obj{"type": "string"}, "title": obj{"type": "string"}, "status": obj{"type": "integer"},
				"detail": obj{"type": "string"}, "instance": obj{"type": "string"},
				"errors": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
					"field": obj{"type": "string"}, "message": obj{"type": "string"}}}},
			},
			"required": []string{"type", "title", "status"},
		},
		"OffsetPagination": obj{"type": "object", "properties": obj{
			"page": obj{"type": "integer"}, "limit": obj{"type": "integer"},
			"total":       obj{"type": []string{"integer", "null"}, "description": "rows matching the filters: exact up to 10000, estimated beyond (total_exact), null with total=none"},
			"total_pages": obj{"type": []string{"integer", "null"}},
			"total_exact": obj{"type": "boolean", "description": "true when total is an exact count, false when estimated or absent"},
			"has_more":    obj{"type": "boolean"},
			"next_cursor": obj{"type": []string{"string", "null"}, "description": "continues after this page in cursor mode"}}},
		"CursorPagination": obj{"type": "object", "properties": obj{
			"next_cursor": obj{"type": []string{"string", "null"}}, "prev_cursor": obj{"type": []string{"string", "null"}},
			"has_more": obj{"type": "boolean"}, "limit": obj{"type": "integer"}}},
	}
	for _, res := range resources {
		name := schemaName(res)
		schemas[name] = res.readSchema()
		schemas[name+"List"] = obj{"type": "object", "properties": obj{
			"data":       obj{"type": "array", "items": ref(name)},
			"pagination": obj{"oneOf": []any{ref("OffsetPagination"), ref("CursorPagination")}},
		}, "required": []string{"data", "pagination"}}
		base := "/api/v1/" + res.name
		item := base + "/{id}"
		paths[base] = obj{"get": op("List "+res.name, res.listParams(), name+"List", "200")}
		paths[item] = obj{"parameters": []any{idParam()}, "get": op("Get one "+res.singular, nil, name, "200")}
		if res.readOnly {
			continue
		}
		schemas[name+"Input"] = res.inputSchema()
		post := op("Create a "+res.singular, nil, name, "201")
		post["requestBody"] = body(name + "Input")
		paths[base].(obj)["post"] = post
		for _, m := range []string{"put", "patch"} {
			o := op(strings.ToUpper(m)+" a "+res.singular+" (If-Match for optimistic concurrency)", nil, name, "200")
			o["requestBody"] = body(name + "Input")
			paths[item].(obj)[m] = o
		}
		del := op("Delete a "+res.singular, nil, "", "204")
		paths[item].(obj)["delete"] = del
	}
	paths["/api/v1/planning"] = obj{"get": op("Affectations overlapping [from, to], with chantier_nom and user_nom",
		append(affectations.listParams(), query("from", obj{"type": "string", "format": "date"}), query("to", obj{"type": "string", "format": "date"})),
		"AffectationList", "200")}
	paths["/api/v1/stats"] = obj{"get": op("Totals per resource", nil, "", "200")}
	addBatch(paths, schemas) // openapi_batch.go
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "Hub Chantier API",
			"version":     "1.0.0",
			"description": "Construction-site management: chantiers, pointages, documents, signalements, affectations. Served through the hubgate gateway; ?fields= selects members (whitelisted per resource).",
		},
		"security": []any{obj{"bearer": []any{}}, obj{"apiKey": []any{}}},
		"paths":    paths,
		"components": obj{
			"schemas": schemas,
			"securitySchemes": obj{
				"bearer": obj{"type": "http", "scheme": "bearer", "description": "API key (hbc_…) or JWT"},
				"apiKey": obj{"type": "apiKey", "in": "header", "name": "X-API-Key"},
			},
		},
	}
}

func schemaName(r *resource) string {
	return strings.ToUpper(r.singular[:1]) + r.singular[1:]
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func body(schema string) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

func idParam() obj {
	return obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "integer", "minimum": 1}}
}

func query(name string, schema obj) obj {
	return obj{"name": name, "in": "query", "required": false, "schema": schema}
}

// op is one operation answering schema (none: no body) with status, and
// problem+json otherwise.
func op(summary string, params []any, schema, status string) obj {
	ok := obj{"description": summary}
	if schema != "" {
		ok["content"] = obj{"application/json": obj{"schema": ref(schema)}}
	} else if status != "204" {
		ok["content"] = obj{"application/json": obj{"schema": obj{"type": "object"}}}
	}
	o := obj{
		"summary": summary,
		"responses": obj{
			status:    ok,
			"default": obj{"description": "Problem", "content": obj{"application/problem+json": obj{"schema": ref("Problem")}}},
		},
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	return o
}

// listParams are the filters, pagination and gateway parameters of a list.
func (r *resource) listParams() []any {
	ps := []any{
		query("page", obj{"type": "integer", "minimum": 1, "description": "offset page; page × limit ≤ 10000, deeper pages are 400 page-too-deep (use cursor)"}),
		query("total", obj{"type": "string", "enum": []string{"auto", "exact", "none"}, "description": "offset pages only: auto (default, exact up to 10000 rows, estimated beyond), exact (counts every row), none"}),
		query("limit", obj{"type": "integer", "minimum": 1, "maximum": 100}),
		query("cursor", obj{"type": "string", "description": "opaque keyset cursor; empty for the first page"}),
		query("fields", obj{"type": "string", "description": "comma-separated members to return (gateway, whitelisted)"}),
	}
	for _, f := range r.fields {
		if f.filter {
			ps = append(ps, query(f.name, f.schema(false)))
		}
	}
	return ps
}

// readSchema is a stored row as answered.
func (r *resource) readSchema() obj {
	props := obj{"id": obj{"type": "integer"}}
	required := []string{"id"}
	for _, f := range r.fields {
		props[f.name] = f.schema(!f.required && f.def == nil)
		required = append(required, f.name)
	}
	props["created_at"] = obj{"type": "string", "format": "date-time"}
	props["updated_at"] = obj{"type": "string", "format": "date-time"}
	props["version"] = obj{"type": "integer"}
	return obj{"type": "object", "properties": props, "required": append(required, "created_at", "updated_at", "version")}
}

// inputSchema is a POST/PUT body (PATCH is a merge patch of it).
func (r *resource) inputSchema() obj {
	props := obj{}
	var required []string
	for _, f := range r.fields {
		props[f.name] = f.schema(!f.required)
		if f.required {
			required = append(required, f.name)
		}
	}
	s := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// schema is the JSON Schema (2020-12, as OpenAPI 3.1 uses) of a field.
func (f *field) schema(nullable bool) obj {
	s := obj{}
	var t string
	switch f.kind {
	case kInt, kRef:
		t = "integer"
	case kFloat:
		t = "number"
	case kBool:
		t = "boolean"
	default:
		t = "string"
	}
	if nullable {
		s["type"] = []string{t, "null"}
	} else {
		s["type"] = t
	}
	switch {
	case f.kind == kDate:
		s["format"] = "date"
	case f.kind == kEnum:
		s["enum"] = f.enum
	case f.kind == kRef:
		s["description"] = "id of a row of " + f.ref
	}
	if f.maxLen > 0 {
		s["maxLength"] = f.maxLen
	}
	if f.min != nil {
		if f.minOpen {
			s["exclusiveMinimum"] = *f.min
		} else {
			s["minimum"] = *f.min
		}
	}
	if f.max != nil {
		s["maximum"] = *f.max
	}
	if f.def != nil {
		s["default"] = f.def
	}
	return s
}
