package hubetag

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParseTagList(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		present bool
		any     bool
		want    []string
	}{
		{"absent", nil, false, false, nil},
		{"star", []string{"*"}, true, true, nil},
		{"star with spaces", []string{" * "}, true, true, nil},
		{"one", []string{`"v1"`}, true, false, []string{`"v1"`}},
		{"weak", []string{`W/"v1"`}, true, false, []string{`W/"v1"`}},
		{"list", []string{`"a", W/"b" ,"c"`}, true, false, []string{`"a"`, `W/"b"`, `"c"`}},
		{"field lines", []string{`"a"`, `"b"`}, true, false, []string{`"a"`, `"b"`}},
		{"comma inside", []string{`"a,b", "c"`}, true, false, []string{`"a,b"`, `"c"`}},
		{"empty tag", []string{`""`}, true, false, []string{`""`}},
		{"empty members", []string{`, ,"a",,`}, true, false, []string{`"a"`}},
		{"garbage skipped", []string{`foo, "a", "b"x, W/c, "d"`}, true, false, []string{`"a"`, `"d"`}},
		{"unterminated", []string{`"abc`}, true, false, nil},
		{"space in tag", []string{`"a b", "c"`}, true, false, []string{`"c"`}},
		{"lowercase weak is not weak", []string{`w/"a"`}, true, false, nil},
		{"star among tags", []string{`"a", *`}, true, true, []string{`"a"`}},
		{"empty field", []string{""}, true, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := parseTagList(tt.in)
			var got []string
			for _, tag := range l.tags {
				got = append(got, tag.String())
			}
			if l.present != tt.present || l.any != tt.any || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseTagList(%q) = present %v any %v %q; want %v %v %q", tt.in, l.present, l.any, got, tt.present, tt.any, tt.want)
			}
		})
	}
}

func TestParseTagListBounded(t *testing.T) {
	l := parseTagList([]string{strings.Repeat(`"x",`, 1000)})
	if len(l.tags) != maxTags {
		t.Fatalf("%d tags kept, want %d", len(l.tags), maxTags)
	}
}

var ourTag = regexp.MustCompile(`^"(v[1-9][0-9]*\.)?[A-Za-z0-9_-]{16}"$`)

func TestComputeTag(t *testing.T) {
	body := []byte(`{"id":1,"nom":"A"}`)
	for _, up := range []string{"", `"v3"`, `W/"v3"`, `"abc"`, `"v03"`, `"v3.x"`} {
		tag := computeTag(up, body)
		if !ourTag.MatchString(tag) {
			t.Errorf("computeTag(%q) = %s: not our form", up, tag)
		}
		wantVersion := up == `"v3"`
		if strings.HasPrefix(tag, `"v3.`) != wantVersion {
			t.Errorf("computeTag(%q) = %s: version carried %v, want %v", up, tag, !wantVersion, wantVersion)
		}
	}
	if computeTag(`"v3"`, body) != computeTag(`"v3"`, body) {
		t.Error("not deterministic")
	}
	if computeTag(`"v3"`, body) == computeTag(`"v3"`, append(body, ' ')) {
		t.Error("one more byte, same tag")
	}
	if computeTag(`"v3"`, body) == computeTag(`"v4"`, body) {
		t.Error("another version, same tag")
	}
}

func TestTagVersion(t *testing.T) {
	tests := []struct {
		opaque string
		want   int64
		ok     bool
	}{
		{"v3", 3, true},
		{"v12", 12, true},
		{"v3-gzip", 3, true},
		{"v3.AAAAAAAAAAAAAAAA", 3, true},
		{"v3.AAAAAAAAAAAAAA-_", 3, true},
		{"v3.AAAAAAAAAAAAAAAA-zstd", 3, true},
		{"v3.AAAAAAAAAAAAAAAA-", 0, false},
		{"v3.AAAAAAAAAAAAAAA", 0, false},  // short hash
		{"v3.AAAAAAAAAAAAAAA=", 0, false}, // not base64url
		{"v3.AAAAAAAAAAAAAAAAx", 0, false},
		{"v0", 0, false},
		{"v03", 0, false},
		{"v+3", 0, false},
		{"v-3", 0, false},
		{"v", 0, false},
		{"3", 0, false},
		{"AAAAAAAAAAAAAAAA", 0, false},
		{"v99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := tagVersion(tt.opaque)
		if got != tt.want || ok != tt.ok {
			t.Errorf("tagVersion(%q) = %d, %v; want %d, %v", tt.opaque, got, ok, tt.want, tt.ok)
		}
	}
}

func TestComparisons(t *testing.T) {
	h3 := "v3.AAAAAAAAAAAAAAAA"
	h3b := "v3.BBBBBBBBBBBBBBBB"
	tests := []struct {
		list, current string
		weak, state   bool
	}{
		{`*`, `"x"`, true, true},
		{`"x"`, `"x"`, true, true},
		{`W/"x"`, `"x"`, true, false},                      // If-Match: a weak tag never matches
		{`"x"`, `W/"x"`, true, false},                      // nor a weak current tag
		{`"x", "y"`, `"y"`, true, true},                    // lists
		{`"a"`, `"b"`, false, false},                       // different
		{`"` + h3 + `"`, `"v3"`, false, true},              // state: same version, another representation
		{`"v3"`, `"` + h3 + `"`, false, true},              // and back
		{`"` + h3b + `"`, `"` + h3 + `"`, false, true},     // v2 vs ?fields= of the same row version
		{`"` + h3 + `-gzip"`, `"` + h3 + `"`, false, true}, // encode suffix
		{`"v2"`, `"` + h3 + `"`, false, false},             // stale
		{`W/"v3"`, `"` + h3 + `"`, false, false},
	}
	for _, tt := range tests {
		l := parseTagList([]string{tt.list})
		cur, _, ok := scanTag(tt.current)
		if !ok {
			t.Fatalf("bad current %s", tt.current)
		}
		if got := l.weakMatch(cur); got != tt.weak {
			t.Errorf("weakMatch(%s, %s) = %v, want %v", tt.list, tt.current, got, tt.weak)
		}
		if got := l.stateMatch(cur); got != tt.state {
			t.Errorf("stateMatch(%s, %s) = %v, want %v", tt.list, tt.current, got, tt.state)
		}
	}
}

func TestForward(t *testing.T) {
	h := `"v3.AAAAAAAAAAAAAAAA"`
	tests := []struct {
		in            string
		ifMatch, none string
	}{
		{`*`, `*`, `*`},
		{h, `"v3"`, `"v3"`},
		{`"v3"`, `"v3"`, `"v3"`},
		{`"v3-gzip"`, `"v3"`, `"v3"`},
		{`W/` + h, `"v0"`, `"v3"`}, // If-None-Match compares weakly
		{`"garbage"`, `"v0"`, ``},
		{`"AAAAAAAAAAAAAAAA"`, `"v0"`, ``}, // a list's tag names no version
		{h + `, "v3", "v4", W/"v5"`, `"v3", "v4"`, `"v3", "v4", "v5"`},
	}
	for _, tt := range tests {
		l := parseTagList([]string{tt.in})
		if got := forwardIfMatch(l); got != tt.ifMatch {
			t.Errorf("forwardIfMatch(%s) = %s, want %s", tt.in, got, tt.ifMatch)
		}
		if got := forwardIfNoneMatch(l); got != tt.none {
			t.Errorf("forwardIfNoneMatch(%s) = %s, want %s", tt.in, got, tt.none)
		}
	}
}

// FuzzParseTagList checks that any If-Match / If-None-Match value parses
// without panicking into a bounded list of tags that print back to
// themselves, and translates into something the upstream reads as tags.
func FuzzParseTagList(f *testing.F) {
	for _, s := range []string{`*`, `"v1"`, `W/"v1", "v2.AAAAAAAAAAAAAAAA"`, `"a,b",c`, `"`, `W/`, `, ,`, "\"\x80\"", `"v3-gzip"`} {
		f.Add(s)
	}
	upstreamTags := regexp.MustCompile(`^(\*|"v[0-9]+"(, "v[0-9]+")*)?$`)
	f.Fuzz(func(t *testing.T, s string) {
		l := parseTagList([]string{s})
		if len(l.tags) > maxTags {
			t.Fatalf("%d tags", len(l.tags))
		}
		for _, tag := range l.tags {
			back, rest, ok := scanTag(tag.String())
			if !ok || rest != "" || back != tag {
				t.Fatalf("tag %#v does not print back: %q", tag, tag.String())
			}
		}
		for _, out := range []string{forwardIfMatch(l), forwardIfNoneMatch(l)} {
			if !upstreamTags.MatchString(out) {
				t.Fatalf("forwarded %q for %q", out, s)
			}
		}
		_ = conditionals{ifMatch: l, ifNoneMatch: l}.evaluate(s)
	})
}
