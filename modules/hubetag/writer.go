package hubetag

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/modules/hub"
)

// mode is what the writer does with the response.
type mode int

const (
	undecided mode = iota
	passing        // headers written, body streamed (or dropped for HEAD)
	buffering      // headers held, body buffered to be hashed
	answered       // a 304 or 412 was sent instead; the body is dropped
)

// writer sits between the inner handlers and the client. At WriteHeader it
// decides: a response that already carries an ETag (the upstream's, body
// untouched) is evaluated at once and streamed; a 200 without one is
// buffered (up to maxSize) so that its tag can be computed from the bytes
// sent; anything else passes through untouched.
type writer struct {
	*caddyhttp.ResponseWriterWrapper
	h       *Handler
	req     *http.Request // as the client sent it (HEAD stays HEAD)
	cond    conditionals
	read    bool // GET or HEAD: preconditions are evaluated here
	head    bool // the client asked HEAD: never send a body
	mode    mode
	status  int
	buf     *bytes.Buffer
	maxSize int64
}

// WriteHeader decides the mode (see writer).
func (w *writer) WriteHeader(status int) {
	if w.mode != undecided {
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		w.ResponseWriterWrapper.WriteHeader(status) // informational, not final
		return
	}
	w.status = status
	hdr := w.Header()
	switch {
	case !w.taggable(status), personal(hdr):
		w.pass(outcomePassthrough)
	case hdr.Get("ETag") != "":
		// Untouched by inner handlers: the upstream's validator stays.
		w.finishHeaders(hdr.Get("ETag"), outcomeUpstream)
	case !w.bufferable(hdr):
		w.pass(outcomePassthrough)
	default:
		w.mode = buffering
		w.buf = getBuffer()
	}
}

// taggable reports whether a response of this status gets an ETag: a 200
// to any method, a 201 to a write (the created representation).
func (w *writer) taggable(status int) bool {
	return status == http.StatusOK || (status == http.StatusCreated && !w.read)
}

// personal reports whether a response must not be validated: one that sets
// a cookie or forbids storing (login and consent pages, token answers). A
// 304 to such a page would hand back a stale session or CSRF token.
func personal(hdr http.Header) bool {
	if len(hdr.Values("Set-Cookie")) > 0 {
		return true
	}
	for _, v := range hdr.Values("Cache-Control") {
		if strings.Contains(strings.ToLower(v), "no-store") {
			return true
		}
	}
	return false
}

// bufferable reports whether the body may be held to be hashed: not a
// stream (SSE), not a declared size over the limit. (A HEAD goes inward
// as a GET: the body is the GET's.)
func (w *writer) bufferable(hdr http.Header) bool {
	if mt, _, _ := mime.ParseMediaType(hdr.Get("Content-Type")); mt == "text/event-stream" {
		return false
	}
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n > w.maxSize {
			return false
		}
	}
	return true
}

// pass writes the headers as they are and streams the body.
func (w *writer) pass(o string) {
	w.mode = passing
	w.h.count(o)
	w.ResponseWriterWrapper.WriteHeader(w.status)
}

// finishHeaders completes the headers of a taggable response whose tag is
// known, applies the preconditions of a GET or HEAD and writes the header
// of the answer; it reports whether the body is to be sent.
func (w *writer) finishHeaders(etag, o string) bool {
	hdr := w.Header()
	hdr.Set("ETag", etag)
	if w.h.cacheControl != "" && hdr.Get("Cache-Control") == "" && w.read {
		hdr.Set("Cache-Control", w.h.cacheControl)
	}
	if w.read && w.cond.present() {
		switch w.cond.evaluate(etag) {
		case notModified:
			w.mode = answered
			w.h.count(outcomeNotModified)
			writeNotModified(w.ResponseWriterWrapper, etag)
			return false
		case preconditionKO:
			w.mode = answered
			w.h.count(outcomePreconditionFailed)
			writePreconditionFailed(w.ResponseWriterWrapper, w.req)
			return false
		}
	}
	w.mode = passing
	w.h.count(o)
	w.ResponseWriterWrapper.WriteHeader(w.status)
	return true
}

// Write buffers, streams or drops p according to the mode.
func (w *writer) Write(p []byte) (int, error) {
	if w.mode == undecided {
		w.WriteHeader(http.StatusOK)
	}
	switch w.mode {
	case buffering:
		if int64(w.buf.Len()+len(p)) > w.maxSize {
			// Over the limit without a declared size: give up on the tag
			// and send what is held, then stream the rest untouched.
			if err := w.overflow(); err != nil {
				return 0, err
			}
			return w.Write(p)
		}
		return w.buf.Write(p)
	case passing:
		if w.head {
			return len(p), nil
		}
		return w.ResponseWriterWrapper.Write(p)
	default: // answered: a 304 or 412 has no body of the 200's
		return len(p), nil
	}
}

// overflow turns a buffered response into a passed-through one.
func (w *writer) overflow() error {
	w.pass(outcomeTooLarge)
	b := w.buf
	w.buf = nil
	defer putBuffer(b)
	if w.head {
		return nil
	}
	_, err := w.ResponseWriterWrapper.Write(b.Bytes())
	return err
}

// ReadFrom keeps io.Copy (used by reverse_proxy) going through Write while
// the body is held or dropped; the wrapped writer's ReadFrom would bypass it.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if w.mode == undecided {
		w.WriteHeader(http.StatusOK)
	}
	if w.mode == passing && !w.head {
		return w.ResponseWriterWrapper.ReadFrom(r)
	}
	return io.Copy(writeOnly{w}, r)
}

// writeOnly hides ReadFrom from io.Copy.
type writeOnly struct{ io.Writer }

// FlushError flushes a streamed response; a held one cannot be flushed
// before its tag is known (reverse_proxy flushes on every chunk of a
// response of unknown length).
func (w *writer) FlushError() error {
	if w.mode != passing {
		return nil
	}
	//nolint:bodyclose // not a response body
	return http.NewResponseController(w.ResponseWriterWrapper).Flush()
}

// finish completes a buffered response after the inner handlers returned:
// the tag is computed from the bytes about to be sent, preconditions are
// applied, and the body goes out (not for HEAD).
func (w *writer) finish() error {
	if w.mode != buffering {
		return nil
	}
	b := w.buf
	w.buf = nil
	defer putBuffer(b)
	// A body transformer that rewrote the body kept the upstream's ETag
	// (hub.KeepUpstreamETag): the tag stays tied to the row version.
	etag := computeTag(hub.UpstreamETag(w.req), b.Bytes())
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	if !w.finishHeaders(etag, outcomeComputed) || w.head {
		return nil
	}
	_, err := w.ResponseWriterWrapper.Write(b.Bytes())
	return err
}

// discard drops a held response (the inner handlers returned an error,
// which Caddy's error routes answer).
func (w *writer) discard() {
	if w.buf != nil {
		putBuffer(w.buf)
		w.buf = nil
	}
}
