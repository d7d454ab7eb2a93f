package graphql

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/hubchantier/hubgate/internal/auditchain"
)

// The audit trail's before/after of a GraphQL mutation: each REST write a
// resolver runs reports its changes in X-Hub-Changes (already redacted and
// bounded by the domain); the GraphQL answer carries them on to the
// gateway's hub_audit, which records them in the request's one record and
// strips the header. One write passes as is; several become
// {"operations": [{"before", "after"}, …]} in execution order (mutations run
// one after the other), or, beyond auditchain.MaxChanges,
// {"operations": n, "truncated": true}.

// reportChanges sets X-Hub-Changes on w from the writes of e.
func reportChanges(w http.ResponseWriter, e *exec) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch len(e.changes) {
	case 0:
		return
	case 1:
		w.Header().Set(auditchain.ChangesHeader, e.changes[0])
		return
	}
	ops := make([]json.RawMessage, 0, len(e.changes))
	for _, h := range e.changes {
		if raw, err := auditchain.DecodeChanges(h); err == nil {
			ops = append(ops, raw)
		}
	}
	doc, err := json.Marshal(map[string]any{"operations": ops})
	if err != nil || len(doc) > auditchain.MaxChanges {
		doc, _ = json.Marshal(map[string]any{"operations": len(e.changes), "truncated": true})
	}
	w.Header().Set(auditchain.ChangesHeader, base64.RawURLEncoding.EncodeToString(doc))
}
