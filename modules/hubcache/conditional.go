package hubcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// notModified reports whether the client's own conditional GET/HEAD is
// answered 304 by the stored response (RFC 9111 §4.3.2, RFC 9110 §13.2.2):
// If-None-Match (weak comparison) when present, otherwise If-Modified-Since
// against Last-Modified. ETags take precedence over dates.
func notModified(r *http.Request, e *entry) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		etag := e.header.Get("ETag")
		for _, line := range inm {
			for _, t := range splitList(line) {
				if t == "*" || (etag != "" && weakMatch(t, etag)) {
					return true
				}
			}
		}
		return false
	}
	ims, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(e.header.Get("Last-Modified"))
	if err != nil {
		return false
	}
	return !lm.After(ims)
}

// weakMatch compares two entity-tags ignoring the W/ prefix (RFC 9110 §8.8.3.2).
func weakMatch(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// hasPreconditions reports whether the request carries preconditions the
// cache does not evaluate itself (If-Match, If-Unmodified-Since): such
// requests go to the origin as sent.
func hasPreconditions(h http.Header) bool {
	return h.Get("If-Match") != "" || h.Get("If-Unmodified-Since") != ""
}

// clientValidators are the request fields removed when the cache forwards
// a request to fill or revalidate an entry: it asks for the full response
// (or sends its own validators) and answers the client's conditions and
// ranges from what it stored.
var clientValidators = []string{"If-None-Match", "If-Modified-Since", "Range", "If-Range"}

// byteRange is one satisfiable range of a body.
type byteRange struct{ start, length int64 }

// rangeOf reads a single-range request for a body of size n (RFC 9110
// §14.1.2). use is false when the response is the full 200: no Range, a
// Range the cache ignores (syntax it does not read, several ranges, an
// If-Range that does not match). ok is false for a single range that is
// not satisfiable (416).
func rangeOf(r *http.Request, e *entry, n int64) (br byteRange, use, ok bool) {
	spec := r.Header.Get("Range")
	if spec == "" || len(r.Header.Values("Range")) > 1 {
		return br, false, true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && !ifRangeMatches(ir, e) {
		return br, false, true
	}
	unit, set, found := strings.Cut(spec, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(set, ",") {
		// Other units and multipart/byteranges: the full representation
		// answers instead (RFC 9110 §14.2 lets a server ignore Range).
		return br, false, true
	}
	first, last, found := strings.Cut(strings.TrimSpace(set), "-")
	if !found {
		return br, false, true
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "":
		suffix, ok := parseDelta(last)
		if !ok {
			return br, false, true
		}
		if suffix == 0 || n == 0 {
			return br, true, false
		}
		suffix = min(suffix, n)
		return byteRange{n - suffix, suffix}, true, true
	default:
		start, ok := parseDelta(first)
		if !ok {
			return br, false, true
		}
		end := n - 1
		if last != "" {
			e, ok := parseDelta(last)
			if !ok || e < start {
				return br, false, true
			}
			end = min(e, n-1)
		}
		if start >= n {
			return br, true, false
		}
		return byteRange{start, end - start + 1}, true, true
	}
}

// ifRangeMatches evaluates If-Range (RFC 9110 §13.1.5): a strong ETag
// match, or exactly the Last-Modified date.
func ifRangeMatches(v string, e *entry) bool {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		etag := e.header.Get("ETag")
		return etag != "" && !strings.HasPrefix(v, "W/") && !strings.HasPrefix(etag, "W/") && v == etag
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(e.header.Get("Last-Modified"))
	return err == nil && t.Equal(lm)
}

// notModifiedDrop are the fields a 304 leaves out (RFC 9110 §15.4.5: it
// carries the validators and caching fields, not the content's metadata).
var notModifiedDrop = []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Content-Language"}

// writeEntry answers from an entry: its status and header, a computed Age
// (RFC 9111 §5.1) and Cache-Status. The client's If-None-Match /
// If-Modified-Since get a 304 when they match; with ranges, a single byte
// range of a stored 200 gets a 206 (or a 416 problem); HEAD gets no body.
func writeEntry(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, cacheStatus string, ranges bool) {
	hdr := w.Header()
	copyResponseHeader(hdr, e.header)
	hdr.Set("Age", strconv.FormatInt(int64(e.age(now)/time.Second), 10))
	hdr.Set("Cache-Status", cacheStatus)
	if e.status == http.StatusOK && notModified(r, e) {
		for _, k := range notModifiedDrop {
			hdr.Del(k)
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := e.body
	status := e.status
	if status == http.StatusOK && ranges {
		hdr.Set("Accept-Ranges", "bytes")
		if r.Method == http.MethodGet {
			br, use, ok := rangeOf(r, e, int64(len(body)))
			switch {
			case use && !ok:
				hdr.Del("Content-Type")
				hdr.Set("Content-Range", "bytes */"+strconv.Itoa(len(body)))
				hub.WriteProblem(w, r, problem.New(http.StatusRequestedRangeNotSatisfiable, "range-not-satisfiable",
					"Range Not Satisfiable", "the requested range starts past the end of the representation"))
				return
			case use:
				hdr.Set("Content-Range", "bytes "+strconv.FormatInt(br.start, 10)+"-"+
					strconv.FormatInt(br.start+br.length-1, 10)+"/"+strconv.Itoa(len(body)))
				body, status = body[br.start:br.start+br.length], http.StatusPartialContent
			}
		}
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
