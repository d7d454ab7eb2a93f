package domain

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// parseIfMatch reads the If-Match header (RFC 9110 §13.1.1). It returns
// nil when the header is absent or is "*" (the write needs only the row to
// exist), else the versions it names, possibly none. If-Match uses the
// strong comparison, so weak tags (W/"v1") never match, nor do tags this
// server did not issue.
func parseIfMatch(values []string) []int64 {
	if len(values) == 0 {
		return nil
	}
	match := []int64{}
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return nil
			}
			if n, ok := parseETag(tag); ok {
				match = append(match, n)
			}
		}
	}
	return match
}

// parseETag reads "v<version>".
func parseETag(tag string) (int64, bool) {
	if len(tag) < 4 || tag[0] != '"' || tag[1] != 'v' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(tag[2:len(tag)-1], 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != tag[2:len(tag)-1] {
		return 0, false
	}
	return n, true
}

// matches reports whether version satisfies match (nil: any).
func matches(match []int64, version int64) bool {
	if match == nil {
		return true
	}
	for _, m := range match {
		if m == version {
			return true
		}
	}
	return false
}

// conditions are the preconditions of a write on one row (RFC 9110 §13.1).
type conditions struct {
	// match is parseIfMatch's answer: nil when any version will do.
	match []int64
	// noneAny is If-None-Match: * — the write needs the row not to exist.
	noneAny bool
	// none are the versions If-None-Match names (weak comparison); the
	// write needs the row to be at none of them.
	none []int64
}

// parseConditions reads If-Match and If-None-Match.
func parseConditions(h http.Header) conditions {
	c := conditions{match: parseIfMatch(h.Values("If-Match"))}
	c.noneAny, c.none = parseIfNoneMatch(h.Values("If-None-Match"))
	return c
}

// parseIfNoneMatch reads If-None-Match (RFC 9110 §13.1.2), which uses the
// weak comparison: W/"v3" names version 3 like "v3" does. Tags this server
// did not issue name no version, so they never match.
func parseIfNoneMatch(values []string) (anyVersion bool, versions []int64) {
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" {
				return true, nil
			}
			if n, ok := parseETag(tag); ok {
				versions = append(versions, n)
			}
		}
	}
	return false, versions
}

// hasNone reports whether If-None-Match constrains the write.
func (c conditions) hasNone() bool { return c.noneAny || len(c.none) > 0 }

// allows reports whether a row at version satisfies both conditions, in
// the order of RFC 9110 §13.2.2 (both fail with 412 here, so the order
// only matters for reading).
func (c conditions) allows(version int64) bool {
	if !matches(c.match, version) {
		return false
	}
	return !c.noneAny && !slices.Contains(c.none, version)
}
