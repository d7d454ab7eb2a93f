package jsonx

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Recorder buffers a response that a body transformer may rewrite. Whether
// to buffer is decided when the status is written (Decide); a body that
// grows past Limit while buffering is spilled to the client unchanged and
// the rest streamed, so memory stays bounded even without Content-Length.
// 1xx responses are never buffered.
type Recorder struct {
	*caddyhttp.ResponseWriterWrapper
	limit     int
	decide    func(status int, h http.Header) bool
	status    int
	wrote     bool
	buffering bool
	buf       *bytes.Buffer
	// Strict refuses to spill: a body over Limit is discarded and
	// Overflowed reports it, for answers that must not reach the client
	// untransformed (v2 with v1 names).
	Strict     bool
	overflowed bool
	// KeepETag, when set, receives the upstream's ETag of a body Finish
	// rewrites, before the header is written (the body-transformer
	// contract: modules use hub.KeepUpstreamETag).
	KeepETag func(r *http.Request, etag string)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// NewRecorder wraps w. decide runs once, at WriteHeader, with the final
// headers; it may also edit them.
func NewRecorder(w http.ResponseWriter, limit int, decide func(status int, h http.Header) bool) *Recorder {
	return &Recorder{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, limit: limit, decide: decide}
}

// WriteHeader decides whether to buffer.
func (rec *Recorder) WriteHeader(status int) {
	if rec.wrote {
		return
	}
	if status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols {
		rec.ResponseWriterWrapper.WriteHeader(status)
		return
	}
	rec.wrote, rec.status = true, status
	rec.buffering = rec.decide(status, rec.Header())
	if rec.buffering {
		rec.buf = bufPool.Get().(*bytes.Buffer)
		rec.buf.Reset()
		return
	}
	rec.ResponseWriterWrapper.WriteHeader(status)
}

// Write buffers or streams.
func (rec *Recorder) Write(p []byte) (int, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.overflowed {
		return len(p), nil
	}
	if !rec.buffering {
		return rec.ResponseWriterWrapper.Write(p)
	}
	if rec.buf.Len()+len(p) > rec.limit {
		if rec.Strict {
			rec.overflowed = true
			rec.buf.Reset()
			return len(p), nil
		}
		if err := rec.spill(); err != nil {
			return 0, err
		}
		return rec.ResponseWriterWrapper.Write(p)
	}
	return rec.buf.Write(p)
}

// ReadFrom keeps io.Copy (used by reverse_proxy) going through Write while
// buffering.
func (rec *Recorder) ReadFrom(r io.Reader) (int64, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if !rec.buffering {
		return rec.ResponseWriterWrapper.ReadFrom(r)
	}
	return io.Copy(writerOnly{rec}, r)
}

type writerOnly struct{ io.Writer }

// spill gives up buffering: what was buffered is sent as is.
func (rec *Recorder) spill() error {
	rec.buffering = false
	rec.ResponseWriterWrapper.WriteHeader(rec.status)
	_, err := rec.ResponseWriterWrapper.Write(rec.buf.Bytes())
	rec.release()
	return err
}

func (rec *Recorder) release() {
	if rec.buf != nil {
		if rec.buf.Cap() <= 4<<20 {
			bufPool.Put(rec.buf)
		}
		rec.buf = nil
	}
}

// FlushError suppresses flushes while buffering (as Caddy's recorder does).
func (rec *Recorder) FlushError() error {
	if rec.buffering {
		return nil
	}
	return http.NewResponseController(rec.ResponseWriterWrapper).Flush()
}

// Buffered reports whether a whole body is held.
func (rec *Recorder) Buffered() bool { return rec.buffering }

// Overflowed reports that a Strict recorder discarded an oversize body;
// nothing has been sent and the caller must answer.
func (rec *Recorder) Overflowed() bool { return rec.overflowed }

// Discard drops the buffer after an overflow.
func (rec *Recorder) Discard() {
	rec.buffering = false
	rec.release()
}

// Status is the status written by the inner handlers (0: none).
func (rec *Recorder) Status() int { return rec.status }

// Body is the buffered body.
func (rec *Recorder) Body() []byte { return rec.buf.Bytes() }

// Passthrough sends the buffered response unchanged.
func (rec *Recorder) Passthrough() error {
	if !rec.buffering {
		return nil
	}
	rec.buffering = false
	rec.ResponseWriterWrapper.WriteHeader(rec.status)
	_, err := rec.ResponseWriterWrapper.Write(rec.buf.Bytes())
	rec.release()
	return err
}

// Finish sends body in place of the buffered one, following the
// body-transformer contract: the upstream's ETag goes to KeepETag and the
// validators and range headers that described
// the old bytes go; Content-Length is recomputed.
func (rec *Recorder) Finish(r *http.Request, body []byte) error {
	rec.buffering = false
	h := rec.Header()
	if et := h.Get("ETag"); et != "" && rec.KeepETag != nil {
		rec.KeepETag(r, et)
	}
	h.Del("ETag")
	h.Del("Accept-Ranges")
	h.Del("Content-Range")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rec.ResponseWriterWrapper.WriteHeader(rec.status)
	var err error
	if r.Method != http.MethodHead {
		_, err = rec.ResponseWriterWrapper.Write(body)
	}
	rec.release()
	return err
}

// Transformable reports whether a response may be buffered and rewritten:
// a JSON body (application/json or any +json type), identity-encoded, not
// marked no-transform (RFC 9111 §5.2.2.6), not a range, not a stream, and
// not announced larger than limit.
func Transformable(status int, h http.Header, limit int) bool {
	if status == http.StatusPartialContent || status == http.StatusSwitchingProtocols ||
		status == http.StatusNoContent || status == http.StatusNotModified {
		return false
	}
	if !IsJSON(h.Get("Content-Type")) {
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return false
	}
	for _, cc := range h.Values("Cache-Control") {
		if strings.Contains(strings.ToLower(cc), "no-transform") {
			return false
		}
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n > int64(limit) {
			return false
		}
	}
	return true
}

// IsJSON reports whether a Content-Type is application/json or a +json
// structured syntax suffix type (RFC 6839 §3.1).
func IsJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if !isLower(mt) {
		mt = strings.ToLower(mt)
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

var slicePool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// GetSlice lends an empty output slice to a transformer.
func GetSlice() *[]byte { p := slicePool.Get().(*[]byte); *p = (*p)[:0]; return p }

// PutSlice returns a slice from GetSlice; out is the (possibly grown)
// slice the transformer produced from it.
func PutSlice(p *[]byte, out []byte) {
	if cap(out) <= 4<<20 {
		*p = out[:0]
		slicePool.Put(p)
	}
}
