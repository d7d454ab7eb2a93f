package domain

// addBatch describes POST /api/v1/batch (issue 14). The gateway's
// hub_batch answers it, never this service, but the document describes
// the API clients see (docs/batch.md); /api/v2/openapi.json maps it to
// /api/v2/batch like every other path.
func addBatch(paths, schemas obj) {
	schemas["BatchOperation"] = obj{"type": "object", "additionalProperties": false,
		"properties": obj{
			"method": obj{"type": "string", "enum": []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}},
			"path": obj{"type": "string", "description": "relative to the version prefix (/chantiers/42?fields=id,nom); " +
				"may refer to earlier results: {$0.body.id} or {$0#/body/id} (JSON Pointer)"},
			"body":    obj{"description": "the JSON body; a string that is exactly a reference takes the referred value"},
			"headers": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, Content-Type, Accept, Accept-Language, Prefer only"},
		},
		"required": []string{"method", "path"}}
	schemas["BatchRequest"] = obj{"type": "object", "additionalProperties": false,
		"properties": obj{
			"operations": obj{"type": "array", "minItems": 1, "maxItems": 100, "items": ref("BatchOperation")},
			"atomic":     obj{"type": "boolean", "description": "all or nothing in one transaction: on a failure, the failing result keeps its error and every other is 424"},
			"parallel":   obj{"type": "boolean", "description": "run independent operations concurrently (bounded); ignored with atomic"},
		},
		"required": []string{"operations"}}
	schemas["BatchResponse"] = obj{"type": "object", "properties": obj{
		"results": obj{"type": "array", "description": "one per operation, in the operations' order", "items": obj{
			"type": "object", "properties": obj{
				"status":  obj{"type": "integer", "description": "the operation's status: 424 when it refers to a failed operation or its atomic batch rolled back, 504 when the 60 s deadline passed first"},
				"headers": obj{"type": "object", "additionalProperties": obj{"type": "string"}},
				"body":    obj{"description": "the operation's JSON answer (a problem document on failure)"},
			}, "required": []string{"status"}}},
	}, "required": []string{"results"}}
	post := op("Run up to 100 operations, each under the same policies as a single request (scopes, rate limits, ETags, ?fields=, audit)", nil, "BatchResponse", "200")
	post["requestBody"] = body("BatchRequest")
	paths["/api/v1/batch"] = obj{"post": post}
}
