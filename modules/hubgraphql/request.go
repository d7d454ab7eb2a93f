package hubgraphql

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"time"
)

// readRequest reads the GraphQL request: POST with a JSON body
// {"query", "operationName", "variables"}, or GET with the same as query
// parameters (variables as JSON). It returns the body read (to put back),
// or nil and no refusal for a GET without query (the GraphiQL page).
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (*Request, []byte, *refusalHTTP) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		if !q.Has("query") {
			return nil, nil, nil
		}
		req := &Request{Query: q.Get("query"), OperationName: q.Get("operationName")}
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				return nil, nil, badRequest("variables must be a JSON object")
			}
		}
		return req, nil, nil
	case http.MethodPost:
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			return nil, nil, &refusalHTTP{status: http.StatusUnsupportedMediaType, slug: "unsupported-media-type", title: "Unsupported Media Type",
				detail: "send the GraphQL request as application/json"}
		}
		body, err := h.readBody(w, r)
		if err != nil {
			return nil, nil, err
		}
		req := &Request{}
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(req); err != nil {
			return nil, nil, badRequest(`the body must be a JSON object {"query": …, "operationName": …, "variables": {…}}`)
		}
		if req.Query == "" {
			return nil, nil, badRequest("query is required")
		}
		return req, body, nil
	default:
		w.Header().Set("Allow", "GET, POST")
		return nil, nil, &refusalHTTP{status: http.StatusMethodNotAllowed, slug: "method-not-allowed", title: "Method Not Allowed",
			detail: "GraphQL is served with GET (queries) and POST"}
	}
}

// readBody reads the whole body within MaxBody and ReadTimeout.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusalHTTP) {
	if r.ContentLength > h.MaxBody {
		return nil, tooLarge(h.MaxBody)
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(time.Duration(h.ReadTimeout))); err == nil {
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.MaxBody+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		return nil, &refusalHTTP{status: http.StatusRequestTimeout, slug: "body-timeout", title: "Request body too slow",
			detail: "the body was not received within " + time.Duration(h.ReadTimeout).String()}
	case err != nil:
		return nil, &refusalHTTP{status: http.StatusBadRequest, slug: "malformed-body", title: "Malformed request body",
			detail: "the request body could not be read"}
	case int64(len(body)) > h.MaxBody:
		return nil, tooLarge(h.MaxBody)
	}
	return body, nil
}

func tooLarge(n int64) *refusalHTTP {
	return &refusalHTTP{status: http.StatusRequestEntityTooLarge, slug: "body-too-large", title: "Request body too large",
		detail: "the body exceeds " + strconv.FormatInt(n, 10) + " bytes"}
}

func badRequest(detail string) *refusalHTTP {
	return &refusalHTTP{status: http.StatusBadRequest, slug: "graphql-request", title: "Invalid GraphQL request", detail: detail}
}

// restoreBody puts a body that was read back on the request.
func restoreBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}
