package hubversion

import (
	"encoding/json"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/jsonx"
)

// translateResponse renames a buffered JSON answer v1→v2 — and applies
// the claimed field selection on a 200 — in one pass.
func (h *Handler) translateResponse(rec *jsonx.Recorder, r *http.Request, plan *jsonx.Plan) error {
	if isProblem(rec.Header().Get("Content-Type")) {
		out, err := h.translateProblem(rec.Body())
		if err != nil {
			count("passthrough")
			return rec.Passthrough()
		}
		count("problem")
		return rec.Finish(r, out)
	}
	opts := jsonx.Options{Rename: h.mapping.AppendV2}
	kind := "response"
	if plan != nil && plan.Selected != nil && rec.Status() == http.StatusOK {
		opts.Select, opts.Envelope = plan.Selected, plan.Envelope
		kind = "selected"
	}
	buf := jsonx.GetSlice()
	out, err := jsonx.Apply(*buf, rec.Body(), &opts)
	if err != nil {
		// Not JSON after all: better the bytes than nothing.
		h.log.Debug("v2 answer not translated", zap.String("path", r.URL.Path), zap.Error(err))
		jsonx.PutSlice(buf, out)
		count("passthrough")
		return rec.Passthrough()
	}
	count(kind)
	err = rec.Finish(r, out)
	jsonx.PutSlice(buf, out)
	return err
}

func isProblem(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/problem+json")
}

// translateProblem renames a problem document (RFC 9457): member names like
// any answer, the field names in errors[].field (they are v1 names in
// values), and an instance under v1. Problems are small and rare, so a
// decode into maps is fine here; member order follows encoding/json.
func (h *Handler) translateProblem(body []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if errs, ok := doc["errors"].([]any); ok {
		for _, e := range errs {
			if m, ok := e.(map[string]any); ok {
				if f, ok := m["field"].(string); ok && f != "" {
					m["field"] = jsonx.Path(f, h.mapping.V2)
				}
			}
		}
	}
	if inst, ok := doc["instance"].(string); ok && strings.HasPrefix(inst, h.V1Prefix) {
		doc["instance"] = h.V2Prefix + strings.TrimPrefix(inst, h.V1Prefix)
	}
	return json.Marshal(renameKeys(doc, h.mapping.V2))
}

// renameKeys renames the member names of a decoded document.
func renameKeys(v any, f func(string) string) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[f(k)] = renameKeys(x, f)
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = renameKeys(x, f)
		}
		return t
	}
	return v
}
