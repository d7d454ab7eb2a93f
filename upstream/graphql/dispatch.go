package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/domain"
)

// Resolvers do not re-implement the domain: every root read and every
// mutation is the REST request it stands for, served in process by the
// same mux (so validation, the permission matrix, row reach, If-Match and
// the problem types are exactly REST's), and its problem answer becomes a
// GraphQL error whose extensions carry the problem (problemError). Only
// nested lists and references use domain.RowsBy, which loads the rows of
// many parents in one query (loader.go).

// exec is what the resolvers of one GraphQL request share, carried in its
// context.
type exec struct {
	api    http.Handler // the upstream's mux (the REST routes)
	svc    *domain.Service
	orig   *http.Request // the GraphQL request: identity and request id
	claims *assertion.Claims

	mu      sync.Mutex
	changes []string // the X-Hub-Changes of each write, in order (changes.go)
}

type execKey struct{}

func execOf(ctx context.Context) *exec {
	e, _ := ctx.Value(execKey{}).(*exec)
	return e
}

// answer is a recorded in-process response.
type answer struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }
func (a *answer) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(b)
}
func (a *answer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

// call serves method path?query with body (JSON, may be nil) through the
// REST routes, as the caller of the GraphQL request, and returns the
// answer; a 4xx/5xx answer is returned as a *problemError.
func (e *exec) call(ctx context.Context, method, path string, query url.Values, body any, hdr map[string]string) (*answer, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	r, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if id := e.orig.Header.Get("X-Request-Id"); id != "" {
		r.Header.Set("X-Request-Id", id)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	r.RemoteAddr = e.orig.RemoteAddr
	a := &answer{header: http.Header{}}
	e.api.ServeHTTP(a, r)
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.status >= 400 {
		return a, problemFrom(a)
	}
	if v := a.header.Get(auditchain.ChangesHeader); v != "" {
		e.mu.Lock()
		e.changes = append(e.changes, v)
		e.mu.Unlock()
	}
	return a, nil
}

// problemError is a REST problem answer as a GraphQL error: the message is
// the problem's detail (or title), and extensions carry code (the stable
// problem name, e.g. validation, not-found, forbidden,
// precondition-failed), type, status and the field errors, if any.
type problemError struct {
	Type   string          `json:"type"`
	Title  string          `json:"title"`
	Status int             `json:"status"`
	Detail string          `json:"detail"`
	Errors json.RawMessage `json:"errors,omitempty"`
}

func (p *problemError) Error() string {
	if p.Detail != "" {
		return p.Detail
	}
	return p.Title
}

// Code is the problem's stable name: the last segment of its type URN.
func (p *problemError) Code() string {
	return p.Type[strings.LastIndexByte(p.Type, ':')+1:]
}

// Extensions implements graph-gophers' extended error.
func (p *problemError) Extensions() map[string]any {
	ext := map[string]any{"code": p.Code(), "type": p.Type, "status": p.Status}
	if len(p.Errors) > 0 {
		ext["errors"] = p.Errors
	}
	return ext
}

func problemFrom(a *answer) *problemError {
	p := &problemError{}
	if err := json.Unmarshal(a.body.Bytes(), p); err != nil || p.Type == "" {
		p = &problemError{Type: "urn:hubchantier:problem:internal", Title: http.StatusText(a.status), Status: a.status}
	}
	if p.Status == 0 {
		p.Status = a.status
	}
	return p
}
