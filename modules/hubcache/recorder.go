package hubcache

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// recorder captures the upstream's answer to a cacheable GET. It gives the
// next handler a header map of its own (so that headers set by outer
// handlers — request id, rate-limit headers — are never stored) and buffers
// the body while it may be stored or may have to be replaced by a stale
// entry. Anything else — other statuses, event streams, bodies over the
// limit — goes through as it comes, after commit sets the header.
type recorder struct {
	w      http.ResponseWriter
	header http.Header
	status int
	buf    bytes.Buffer
	limit  int64
	// bufferStatus reports whether a response with this status is held back.
	bufferStatus func(status int) bool
	// onCommit decorates the client's header before a pass-through begins.
	onCommit    func(h http.Header, reason string)
	wrote       bool // WriteHeader seen
	passthrough bool // the client's response has started
}

func newRecorder(w http.ResponseWriter, limit int64, bufferStatus func(int) bool, onCommit func(http.Header, string)) *recorder {
	return &recorder{w: w, header: http.Header{}, limit: limit, bufferStatus: bufferStatus, onCommit: onCommit}
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(status int) {
	if rec.wrote {
		return
	}
	if status < 200 {
		// Informational answers (103 Early Hints) are not part of the
		// stored response; they are dropped rather than half-forwarded.
		return
	}
	rec.status, rec.wrote = status, true
	switch {
	case !rec.bufferStatus(status):
		rec.commit("uncacheable")
	case strings.HasPrefix(rec.header.Get("Content-Type"), "text/event-stream"):
		rec.commit("stream")
	default:
		if cl, err := strconv.ParseInt(rec.header.Get("Content-Length"), 10, 64); err == nil && cl > rec.limit {
			// Known too big: stream it rather than buffer first.
			rec.commit("too-large")
		}
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.passthrough {
		return rec.w.Write(p)
	}
	if int64(rec.buf.Len()+len(p)) > rec.limit {
		rec.commit("too-large")
		if _, err := rec.w.Write(rec.buf.Bytes()); err != nil {
			return 0, err
		}
		rec.buf.Reset()
		return rec.w.Write(p)
	}
	return rec.buf.Write(p)
}

// commit starts the client's response with the recorded status and header.
func (rec *recorder) commit(reason string) {
	if rec.passthrough {
		return
	}
	rec.passthrough = true
	copyResponseHeader(rec.w.Header(), rec.header)
	rec.onCommit(rec.w.Header(), reason)
	rec.w.WriteHeader(rec.status)
}

// FlushError flushes only a response already passing through; a buffered
// one is sent whole at the end.
func (rec *recorder) FlushError() error {
	if !rec.passthrough {
		return nil
	}
	return http.NewResponseController(rec.w).Flush()
}

// Unwrap lets http.ResponseController reach the client's writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

// hopHeaders are connection-specific (RFC 9110 §7.6.1) or per-request and
// never stored; Cache-Tag and Surrogate-Key are for the cache only.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Age", "Cache-Status", "X-Request-Id", "Set-Cookie", "Cache-Tag", "Surrogate-Key", "Content-Length",
}

// storableHeader returns a copy of h without hop-by-hop and per-request
// fields.
func storableHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range hopHeaders {
		out.Del(k)
	}
	return out
}

// copyResponseHeader copies upstream header fields onto the client's
// header, replacing same-named fields but keeping those set by outer
// handlers (X-Request-Id, rate-limit fields). Cache-Tag, Surrogate-Key
// and Surrogate-Control stay between the upstream and the cache.
func copyResponseHeader(dst, src http.Header) {
	for k, v := range src {
		if k == "Cache-Tag" || k == "Surrogate-Key" || k == "Surrogate-Control" {
			continue
		}
		if k == "X-Request-Id" && len(dst[k]) > 0 {
			continue
		}
		dst[k] = append([]string(nil), v...)
	}
}
