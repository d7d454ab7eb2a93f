package hubbatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/hubchantier/hubgate/internal/problem"
)

// recorder is the ResponseWriter of one operation: it keeps the status,
// the headers and at most max bytes of body, in memory.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	max      int64
	overflow bool
	aborted  bool
}

func newRecorder(max int64) *recorder { return &recorder{header: http.Header{}, max: max} }

// Header returns the response headers.
func (rw *recorder) Header() http.Header { return rw.header }

// WriteHeader keeps the first final status; 1xx are informational (an
// operation's result has one status).
func (rw *recorder) WriteHeader(code int) {
	if rw.status != 0 || (code >= 100 && code < 200) {
		return
	}
	rw.status = code
}

// Write keeps the body up to max bytes.
func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.overflow {
		return len(p), nil
	}
	if int64(rw.body.Len()+len(p)) > rw.max {
		rw.overflow = true
		rw.body.Reset()
		return len(p), nil
	}
	return rw.body.Write(p)
}

// Flush does nothing: the body is kept until the operation ends.
func (rw *recorder) Flush() {}

// abort records a handler that panicked (the proxy's ErrAbortHandler).
func (rw *recorder) abort() { rw.aborted = true }

// result turns the recorded answer into the operation's result.
func (rw *recorder) result() *result {
	switch {
	case rw.aborted:
		return problemResult(problem.New(http.StatusBadGateway, "gateway-error", "Bad Gateway",
			"the operation's answer was interrupted"))
	case rw.overflow:
		return problemResult(problem.New(http.StatusBadGateway, "batch-result-too-large", "Result too large",
			fmt.Sprintf("the operation's answer is larger than %d bytes; request it alone", rw.max)))
	}
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	res := &result{Status: status, Headers: map[string]string{}}
	for _, name := range resultHeaders {
		if v := rw.header.Values(name); len(v) > 0 {
			res.Headers[name] = joinValues(v)
		}
	}
	doc := map[string]any{"status": float64(status)}
	hdrs := make(map[string]any, len(res.Headers))
	for k, v := range res.Headers {
		hdrs[k] = v
	}
	doc["headers"] = hdrs
	if b := rw.body.Bytes(); len(b) > 0 {
		if isJSON(rw.header.Get("Content-Type")) && json.Valid(b) {
			res.Body = json.RawMessage(bytes.Clone(b))
			var v any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if dec.Decode(&v) == nil {
				doc["body"] = v
			}
		} else {
			// A non-JSON answer (text, HTML from a misrouted path) is
			// kept as a JSON string.
			s, _ := json.Marshal(string(b))
			res.Body = s
			doc["body"] = string(b)
		}
	}
	res.doc = doc
	return res
}

// joinValues joins a header's values the way RFC 9110 §5.3 allows.
func joinValues(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	out := v[0]
	for _, s := range v[1:] {
		out += ", " + s
	}
	return out
}

// isJSON reports whether a media type is JSON (application/json,
// application/problem+json, any +json).
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (len(mt) > 5 && mt[len(mt)-5:] == "+json")
}
