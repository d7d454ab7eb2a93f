package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	gg "github.com/graph-gophers/graphql-go"
)

// root resolves the Query and Mutation fields. It holds nothing: what a
// request needs is its exec, in the context.
type root struct{}

// validationError is a GraphQL argument refused the way REST refuses a
// query parameter (400 validation, with the field named).
func validationError(field, msg string) *problemError {
	errs, _ := json.Marshal([]map[string]string{{"field": field, "message": msg}})
	return &problemError{Type: "urn:hubchantier:problem:validation", Title: "Invalid request", Status: http.StatusBadRequest, Detail: msg, Errors: errs}
}

// pathID checks that id is a row id (digits) before it goes into a path.
func pathID(id gg.ID) (string, error) {
	if n, err := strconv.ParseInt(string(id), 10, 64); err != nil || n < 1 {
		return "", validationError("id", "id must be a positive integer")
	}
	return string(id), nil
}

// get reads one row: GET /api/v1/<resource>/<id>.
func get(ctx context.Context, resource string, id gg.ID) (*row, error) {
	sid, err := pathID(id)
	if err != nil {
		return nil, err
	}
	a, err := execOf(ctx).call(ctx, http.MethodGet, "/api/v1/"+resource+"/"+sid, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return single(a)
}

// single decodes a one-row answer into a group of one.
func single(a *answer) (*row, error) {
	m, err := decodeRow(a.body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("graphql: decode row: %w", err)
	}
	return newGroup([]map[string]any{m}).rows[0], nil
}

// listArgs are a root connection's arguments.
type listArgs struct {
	First  int32
	After  *string
	Filter *filterInput
}

// filterInput holds every filter input's members (each input type uses
// some): a REST list's ?name=value filters.
type filterInput struct {
	Statut        *string `json:"statut,omitempty"`
	ResponsableID *gg.ID  `json:"responsable_id,omitempty"`
	ChantierID    *gg.ID  `json:"chantier_id,omitempty"`
	UserID        *gg.ID  `json:"user_id,omitempty"`
	Date          *string `json:"date,omitempty"`
	Type          *string `json:"type,omitempty"`
	Valide        *bool   `json:"valide,omitempty"`
	Categorie     *string `json:"categorie,omitempty"`
	Gravite       *string `json:"gravite,omitempty"`
	Urgent        *bool   `json:"urgent,omitempty"`
	Role          *string `json:"role,omitempty"`
}

// add sets the filter's members as query parameters.
func (f *filterInput) add(q url.Values) {
	if f == nil {
		return
	}
	b, _ := json.Marshal(f)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range m {
		q.Set(k, fmt.Sprint(v))
	}
}

// list reads a page in cursor mode: GET /api/v1/<resource>?cursor=&limit=.
func list(ctx context.Context, resource string, a listArgs) (*conn, error) {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(int(a.First)))
	after := ""
	if a.After != nil {
		after = *a.After
	}
	q.Set("cursor", after)
	a.Filter.add(q)
	ans, err := execOf(ctx).call(ctx, http.MethodGet, "/api/v1/"+resource, q, nil, nil)
	if err != nil {
		return nil, err
	}
	var env struct {
		Data       []json.RawMessage `json:"data"`
		Pagination struct {
			NextCursor *string `json:"next_cursor"`
			PrevCursor *string `json:"prev_cursor"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(ans.body.Bytes(), &env); err != nil {
		return nil, fmt.Errorf("graphql: decode %s list: %w", resource, err)
	}
	ms := make([]map[string]any, 0, len(env.Data))
	for _, b := range env.Data {
		m, err := decodeRow(b)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return &conn{rows: newGroup(ms).rows, next: env.Pagination.NextCursor, prev: env.Pagination.PrevCursor}, nil
}

// conn is a Relay connection over one page.
type conn struct {
	rows       []*row
	next, prev *string
}

func (c *conn) Nodes() []*row { return c.rows }

// Edges carries a cursor on the last edge only: REST cursors mark page
// boundaries, so the last edge's is the page's endCursor (docs/graphql.md).
func (c *conn) Edges() []*edge {
	out := make([]*edge, len(c.rows))
	for i, r := range c.rows {
		out[i] = &edge{node: r}
	}
	if n := len(out); n > 0 {
		out[n-1].cursor = c.next
		out[0].cursorIfNil(c.prev)
	}
	return out
}

func (c *conn) PageInfo() *pageInfo { return &pageInfo{c} }

type edge struct {
	node   *row
	cursor *string
}

func (e *edge) Node() *row      { return e.node }
func (e *edge) Cursor() *string { return e.cursor }
func (e *edge) cursorIfNil(s *string) {
	if e.cursor == nil {
		e.cursor = s
	}
}

type pageInfo struct{ c *conn }

func (p *pageInfo) HasNextPage() bool     { return p.c.next != nil }
func (p *pageInfo) HasPreviousPage() bool { return p.c.prev != nil }
func (p *pageInfo) EndCursor() *string    { return p.c.next }
func (p *pageInfo) StartCursor() *string  { return p.c.prev }

type idArgs struct{ ID gg.ID }

func (root) Chantier(ctx context.Context, a idArgs) (*row, error) { return get(ctx, "chantiers", a.ID) }
func (root) Chantiers(ctx context.Context, a listArgs) (*conn, error) {
	return list(ctx, "chantiers", a)
}
func (root) Pointage(ctx context.Context, a idArgs) (*row, error) { return get(ctx, "pointages", a.ID) }
func (root) Pointages(ctx context.Context, a listArgs) (*conn, error) {
	return list(ctx, "pointages", a)
}
func (root) Document(ctx context.Context, a idArgs) (*row, error) { return get(ctx, "documents", a.ID) }
func (root) Documents(ctx context.Context, a listArgs) (*conn, error) {
	return list(ctx, "documents", a)
}
func (root) Signalement(ctx context.Context, a idArgs) (*row, error) {
	return get(ctx, "signalements", a.ID)
}
func (root) Signalements(ctx context.Context, a listArgs) (*conn, error) {
	return list(ctx, "signalements", a)
}
func (root) Affectation(ctx context.Context, a idArgs) (*row, error) {
	return get(ctx, "affectations", a.ID)
}
func (root) Affectations(ctx context.Context, a listArgs) (*conn, error) {
	return list(ctx, "affectations", a)
}
func (root) User(ctx context.Context, a idArgs) (*row, error)     { return get(ctx, "users", a.ID) }
func (root) Users(ctx context.Context, a listArgs) (*conn, error) { return list(ctx, "users", a) }

type planningArgs struct {
	From, To           *string
	ChantierID, UserID *gg.ID
	First              int32
}

// Planning is GET /api/v1/planning (its first offset page).
func (root) Planning(ctx context.Context, a planningArgs) ([]*row, error) {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(int(a.First)))
	for k, v := range map[string]*string{"from": a.From, "to": a.To, "chantier_id": (*string)(a.ChantierID), "user_id": (*string)(a.UserID)} {
		if v != nil {
			q.Set(k, *v)
		}
	}
	ans, err := execOf(ctx).call(ctx, http.MethodGet, "/api/v1/planning", q, nil, nil)
	if err != nil {
		return nil, err
	}
	var env struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(ans.body.Bytes(), &env); err != nil {
		return nil, fmt.Errorf("graphql: decode planning: %w", err)
	}
	ms := make([]map[string]any, 0, len(env.Data))
	for _, b := range env.Data {
		m, err := decodeRow(b)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return newGroup(ms).rows, nil
}

// Stats is GET /api/v1/stats, as a JSON value.
func (root) Stats(ctx context.Context) (*jsonValue, error) {
	ans, err := execOf(ctx).call(ctx, http.MethodGet, "/api/v1/stats", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return &jsonValue{raw: json.RawMessage(ans.body.Bytes())}, nil
}

// jsonValue is the JSON scalar: a JSON document passed through.
type jsonValue struct{ raw json.RawMessage }

func (jsonValue) ImplementsGraphQLType(name string) bool { return name == "JSON" }
func (j *jsonValue) UnmarshalGraphQL(input any) error {
	b, err := json.Marshal(input)
	j.raw = b
	return err
}
func (j jsonValue) MarshalJSON() ([]byte, error) {
	if len(j.raw) == 0 {
		return []byte("null"), nil
	}
	return j.raw, nil
}
