package hubcache

import (
	"sort"
	"strings"
)

// varyFields says how a request field named by Vary is normalised before
// it joins the key (RFC 9111 §4.1: "normalised ... in a way known to have
// identical semantics"): lower says the values are case-insensitive,
// unordered that the order of list members carries no meaning (their
// preference is in q-values).
var varyFields = map[string]struct{ lower, unordered bool }{
	"accept":          {lower: true, unordered: true},
	"accept-encoding": {lower: true, unordered: true},
	"accept-language": {lower: true, unordered: true},
	"accept-charset":  {lower: true, unordered: true},
	"origin":          {lower: true},
}

// normalizeVary returns the key form of a varied request field's lines:
// one list, members trimmed, whitespace around ';' and '=' removed, then
// lowercased and sorted when the field allows it. Other fields keep case
// and order; only their list whitespace is normalised.
func normalizeVary(name string, lines []string) string {
	rule := varyFields[name]
	var members []string
	for _, line := range lines {
		for _, m := range splitList(line) {
			if m == "" {
				continue
			}
			if rule.lower {
				m = strings.ToLower(m)
			}
			members = append(members, squeezeParams(m))
		}
	}
	if rule.unordered {
		sort.Strings(members)
	}
	return strings.Join(members, ",")
}

// squeezeParams removes optional whitespace around ';' and '=' outside
// quoted strings: "gzip ; q=0.5" and "gzip;q=0.5" are one value.
func squeezeParams(s string) string {
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			quoted = !quoted
		}
		if !quoted && (c == ' ' || c == '\t') {
			// Drop whitespace next to a separator; keep it inside a token
			// list member otherwise (collapsed to one space).
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			prev := byte(0)
			if b.Len() > 0 {
				prev = b.String()[b.Len()-1]
			}
			if j < len(s) && s[j] != ';' && s[j] != '=' && prev != ';' && prev != '=' && prev != 0 {
				b.WriteByte(' ')
			}
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
