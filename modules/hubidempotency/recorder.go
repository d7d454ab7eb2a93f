package hubidempotency

import (
	"io"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// recorder streams the answer to the client unchanged while keeping a
// copy of its status, the headers the inner handlers set and at most max
// bytes of body. A larger body is sent whole but not kept.
type recorder struct {
	*caddyhttp.ResponseWriterWrapper
	before   http.Header // the header map before next ran (outer handlers' own)
	max      int64
	status   int
	header   http.Header
	body     []byte
	overflow bool
	cookie   bool
}

func newRecorder(w http.ResponseWriter, max int64) *recorder {
	return &recorder{
		ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		before:                w.Header().Clone(),
		max:                   max,
	}
}

// WriteHeader keeps the final status and the headers the inner handlers
// added or changed (outer handlers' headers, set before this one ran, are
// theirs to set again on a replay).
func (rw *recorder) WriteHeader(code int) {
	if rw.status != 0 {
		return
	}
	if code < 200 {
		rw.ResponseWriterWrapper.WriteHeader(code) // 1xx: informational, not the answer
		return
	}
	rw.status = code
	rw.header = make(http.Header)
	for k, vs := range rw.Header() {
		if k == "Set-Cookie" {
			rw.cookie = true
		}
		if notKept(k) || slices.Equal(rw.before[k], vs) {
			continue
		}
		rw.header[k] = slices.Clone(vs)
	}
	rw.ResponseWriterWrapper.WriteHeader(code)
}

// Write keeps a copy of the body while it fits.
func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if !rw.overflow {
		if int64(len(rw.body)+len(b)) > rw.max {
			rw.overflow, rw.body = true, nil
		} else {
			rw.body = append(rw.body, b...)
		}
	}
	return rw.ResponseWriterWrapper.Write(b)
}

// ReadFrom goes through Write: the wrapper's ReadFrom would hand the body
// to the underlying writer without this copy seeing it.
func (rw *recorder) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(writerOnly{rw}, r)
}

type writerOnly struct{ io.Writer }
