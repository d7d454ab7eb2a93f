package domain

import (
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
