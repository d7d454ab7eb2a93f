package hubetag

import (
	"net/http"
)

// outcome is the answer preconditions give a GET or HEAD whose response
// would be 200.
type outcome int

const (
	send           outcome = iota // send the 200
	notModified                   // 304
	preconditionKO                // 412
)

// conditionals are the precondition fields of a GET or HEAD, taken off the
// request before it goes inward so that every inner handler (the cache
// included) builds the full 200 the gateway evaluates them on.
type conditionals struct {
	ifMatch, ifNoneMatch tagList
}

// present reports whether any field was sent.
func (c conditionals) present() bool { return c.ifMatch.present || c.ifNoneMatch.present }

// takeConditionals parses If-Match and If-None-Match and removes them from
// hdr. The date conditions are left for inner handlers, except where RFC
// 9110 §13.2.2 says to ignore them: If-Unmodified-Since when If-Match is
// present (step 2) and If-Modified-Since when If-None-Match is (step 4).
func takeConditionals(hdr http.Header) conditionals {
	c := conditionals{
		ifMatch:     parseTagList(hdr.Values("If-Match")),
		ifNoneMatch: parseTagList(hdr.Values("If-None-Match")),
	}
	if c.ifMatch.present {
		hdr.Del("If-Match")
		hdr.Del("If-Unmodified-Since")
	}
	if c.ifNoneMatch.present {
		hdr.Del("If-None-Match")
		hdr.Del("If-Modified-Since")
	}
	return c
}

// evaluate applies RFC 9110 §13.2.2 to a GET or HEAD whose response would
// be 200 with the entity-tag current ("" when it has none). Only called
// for 2xx answers: §13.2.1 has preconditions ignored when the response
// would otherwise be an error, so a 404 or 401 always wins.
//
//	step 1: If-Match false        → 412
//	step 3: If-None-Match false   → 304 (GET/HEAD)
//	else                          → 200
func (c conditionals) evaluate(current string) outcome {
	cur, rest, ok := scanTag(current)
	hasTag := ok && rest == ""
	if c.ifMatch.present {
		// With no current entity-tag only "*" can match: a representation
		// exists (RFC 9110 §13.1.1).
		if !(c.ifMatch.any || hasTag && c.ifMatch.stateMatch(cur)) {
			return preconditionKO
		}
	}
	if c.ifNoneMatch.present {
		if c.ifNoneMatch.any || hasTag && c.ifNoneMatch.weakMatch(cur) {
			return notModified
		}
	}
	return send
}

// notModifiedDrops are the fields of a 200 a 304 does not repeat: RFC 9110
// §15.4.5 keeps Cache-Control, Content-Location, Date, ETag, Expires and
// Vary, plus fields not about the representation (X-Request-Id, rate limit
// and deprecation headers). Go's http.ServeContent drops the same.
var notModifiedDrops = []string{"Content-Type", "Content-Length", "Content-Encoding",
	"Content-Range", "Accept-Ranges", "Transfer-Encoding", "Last-Modified"}

// writeNotModified sends the 304 in place of a 200 whose headers are in w.
func writeNotModified(w http.ResponseWriter, etag string) {
	hdr := w.Header()
	for _, k := range notModifiedDrops {
		hdr.Del(k)
	}
	hdr.Set("ETag", etag)
	w.WriteHeader(http.StatusNotModified)
}
