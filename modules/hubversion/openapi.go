package hubversion

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/jsonx"
	"github.com/hubchantier/hubgate/modules/hub"
)

// serveOpenAPI answers <v2_prefix>openapi.json with the v1 document of the
// upstream translated to v2. The document is fetched through the rest of
// the route (so hub_cache may hold it) and rewritten per request; it is
// small and rarely asked for.
func (h *Handler) serveOpenAPI(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = h.OpenAPISource, "", ""
	r.RequestURI = r.URL.RequestURI()
	rec := jsonx.NewRecorder(w, h.MaxBody, func(status int, hdr http.Header) bool {
		return status == http.StatusOK && jsonx.Transformable(status, hdr, h.MaxBody)
	})
	rec.KeepETag = hub.KeepUpstreamETag
	if err := next.ServeHTTP(rec, r); err != nil {
		if rec.Buffered() {
			rec.Discard()
		}
		return err
	}
	if !rec.Buffered() {
		return nil
	}
	out, err := h.deriveOpenAPI(rec.Body())
	if err != nil {
		count("passthrough")
		return rec.Passthrough()
	}
	count("openapi")
	return rec.Finish(r, out)
}

// deriveOpenAPI maps an OpenAPI 3.1 document of v1 to v2: paths move under
// the v2 prefix, schema property names and "required" lists, parameter
// names (query and path) and the "fields"/"sort" examples follow the
// mapping. Keys that are OpenAPI vocabulary are left alone.
func (h *Handler) deriveOpenAPI(body []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if info, ok := doc["info"].(map[string]any); ok {
		info["version"] = "2.0.0"
		if t, ok := info["title"].(string); ok {
			info["title"] = t + " (v2)"
		}
	}
	if paths, ok := doc["paths"].(map[string]any); ok {
		out := make(map[string]any, len(paths))
		for p, item := range paths {
			if strings.HasPrefix(p, h.V1Prefix) {
				p = h.V2Prefix + strings.TrimPrefix(p, h.V1Prefix)
			}
			out[p] = item
		}
		doc["paths"] = out
	}
	h.walkOpenAPI(doc)
	return json.MarshalIndent(doc, "", "  ")
}

// walkOpenAPI renames, anywhere in the document, the members of
// "properties" maps, the entries of "required" lists next to them and the
// "name" of parameter objects.
func (h *Handler) walkOpenAPI(v any) {
	switch t := v.(type) {
	case map[string]any:
		if props, ok := t["properties"].(map[string]any); ok {
			renamed := make(map[string]any, len(props))
			for k, p := range props {
				renamed[h.mapping.V2(k)] = p
			}
			t["properties"] = renamed
			if req, ok := t["required"].([]any); ok {
				for i, n := range req {
					if s, ok := n.(string); ok {
						req[i] = h.mapping.V2(s)
					}
				}
			}
		}
		if in, ok := t["in"].(string); ok && (in == "query" || in == "path") {
			if n, ok := t["name"].(string); ok {
				t["name"] = h.mapping.V2(n)
			}
		}
		for _, x := range t {
			h.walkOpenAPI(x)
		}
	case []any:
		for _, x := range t {
			h.walkOpenAPI(x)
		}
	}
}
