package hubclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// ReadOnly is a collection the API only lets clients read. T is its row
// type, L its list envelope (data + pagination).
type ReadOnly[T, L any] struct {
	c    *Client
	path string
}

// List returns one page; q holds filters, limit, page or cursor, fields…
func (r *ReadOnly[T, L]) List(ctx context.Context, q url.Values) (L, error) {
	var out L
	_, err := r.c.Do(ctx, Request{Method: http.MethodGet, Path: r.path, Query: q}, &out)
	return out, err
}

// Get returns one row and its ETag (for If-Match on a later write).
func (r *ReadOnly[T, L]) Get(ctx context.Context, id int64) (T, string, error) {
	return call[T](ctx, r.c, http.MethodGet, r.item(id), nil, "")
}

func (r *ReadOnly[T, L]) item(id int64) string { return r.path + "/" + strconv.FormatInt(id, 10) }

// Collection is a writable collection: In is its POST/PUT body.
type Collection[T, In, L any] struct {
	c    *Client
	path string
}

// read is the collection's read half.
func (r *Collection[T, In, L]) read() *ReadOnly[T, L] { return &ReadOnly[T, L]{c: r.c, path: r.path} }

// List returns one page; q holds filters, limit, page or cursor, fields…
func (r *Collection[T, In, L]) List(ctx context.Context, q url.Values) (L, error) {
	return r.read().List(ctx, q)
}

// Get returns one row and its ETag.
func (r *Collection[T, In, L]) Get(ctx context.Context, id int64) (T, string, error) {
	return r.read().Get(ctx, id)
}

// Create posts in and returns the created row and its ETag.
func (r *Collection[T, In, L]) Create(ctx context.Context, in In) (T, string, error) {
	return call[T](ctx, r.c, http.MethodPost, r.path, in, "")
}

// Replace PUTs in. ifMatch, when not empty, is sent as If-Match: the write
// fails with a 412 *Error (problem precondition-failed) if the row changed
// since that ETag was read.
func (r *Collection[T, In, L]) Replace(ctx context.Context, id int64, in In, ifMatch string) (T, string, error) {
	return call[T](ctx, r.c, http.MethodPut, r.read().item(id), in, ifMatch)
}

// Patch sends patch, a JSON merge patch (RFC 7396) such as
// map[string]any{"statut": "en_cours"}: In would send its required members
// too, and a nil pointer cannot say "set to null". If-Match is ifMatch
// when not empty.
func (r *Collection[T, In, L]) Patch(ctx context.Context, id int64, patch any, ifMatch string) (T, string, error) {
	return call[T](ctx, r.c, http.MethodPatch, r.read().item(id), patch, ifMatch)
}

// Delete removes a row, under If-Match ifMatch when not empty.
func (r *Collection[T, In, L]) Delete(ctx context.Context, id int64, ifMatch string) error {
	_, _, err := call[struct{}](ctx, r.c, http.MethodDelete, r.read().item(id), nil, ifMatch)
	return err
}

// call sends one request for a single row and returns it with its ETag.
func call[T any](ctx context.Context, c *Client, method, path string, body any, ifMatch string) (T, string, error) {
	var out T
	req := Request{Method: method, Path: path, Body: body}
	if ifMatch != "" {
		req.Header = http.Header{"If-Match": {ifMatch}}
	}
	var dst any = &out
	if method == http.MethodDelete {
		dst = nil
	}
	h, err := c.Do(ctx, req, dst)
	if err != nil {
		return out, "", err
	}
	return out, h.Get("ETag"), nil
}
