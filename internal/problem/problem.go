// Package problem writes RFC 9457 problem details (application/problem+json).
// The gateway and the upstream use it for every error they answer with, so a
// client sees one error format whichever side refused the request.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// TypePrefix starts every problem type URI. The type is stable: clients may
// switch on it (RFC 9457 §3.1.1).
const TypePrefix = "urn:hubchantier:problem:"

// ContentType is the media type of a problem document (RFC 9457 §3).
const ContentType = "application/problem+json"

// Problem is one RFC 9457 problem details document.
type Problem struct {
	// Type is a URI naming the kind of problem; see TypePrefix.
	Type string `json:"type"`
	// Title is a short human-readable summary of the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence (the request path, usually).
	Instance string `json:"instance,omitempty"`
	// Extra holds extension members, merged at the top level of the document.
	Extra map[string]any `json:"-"`
}

// New returns a problem of the given slug (the stable part of the type URI).
func New(status int, slug, title, detail string) *Problem {
	return &Problem{Type: TypePrefix + slug, Title: title, Status: status, Detail: detail}
}

// With adds an extension member and returns p.
func (p *Problem) With(key string, value any) *Problem {
	if p.Extra == nil {
		p.Extra = make(map[string]any)
	}
	p.Extra[key] = value
	return p
}

// Error makes a Problem usable as an error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// MarshalJSON merges the extension members into the document.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Extra)+5)
	for k, v := range p.Extra {
		m[k] = v
	}
	m["type"] = p.Type
	m["title"] = p.Title
	m["status"] = p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

// Write sends p as the whole response. Headers already set on w (such as
// WWW-Authenticate or Retry-After) are kept.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(p.Status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
