package hubbatch

import (
	"errors"
	"strings"
	"testing"
)

func allowedDefault() map[string]bool {
	h := &Handler{}
	h.allowed = map[string]bool{}
	for _, n := range DefaultHeaders {
		h.allowed[n] = true
	}
	return h.allowed
}

func TestParseBatch(t *testing.T) {
	ok := func(ops string) string { return `{"operations":[` + ops + `]}` }
	for _, tc := range []struct {
		name, body string
		want       string // "" = valid; else a substring of the error or of a field message
	}{
		{"minimal", ok(`{"method":"get","path":"/chantiers"}`), ""},
		{"flags", `{"operations":[{"method":"POST","path":"/chantiers","body":{"nom":"x"}}],"atomic":true,"parallel":true}`, ""},
		{"references", ok(`{"method":"POST","path":"/chantiers","body":{}},{"method":"GET","path":"/chantiers/{$0.body.id}/x?y={$0#/body/a~1b}","headers":{"If-Match":"{$0.headers.ETag}"}}`), ""},
		{"not json", `{"operations":`, "truncated"},
		{"trailing", ok(`{"method":"GET","path":"/a"}`) + `{}`, "after the JSON object"},
		{"unknown member", `{"operations":[{"method":"GET","path":"/a"}],"atomik":true}`, "unknown member"},
		{"unknown op member", ok(`{"method":"GET","path":"/a","query":"x"}`), "unknown member"},
		{"no operations", `{}`, "no operations"},
		{"empty", ok(``), "empty"},
		{"method", ok(`{"method":"TRACE","path":"/a"}`), "one of GET"},
		{"relative", ok(`{"method":"GET","path":"chantiers"}`), "starting with /"},
		{"scheme-relative", ok(`{"method":"GET","path":"//evil/x"}`), "starting with /"},
		{"dotdot", ok(`{"method":"GET","path":"/../internal/x"}`), "canonical"},
		{"encoded dotdot", ok(`{"method":"GET","path":"/a/%2e%2e/b"}`), "canonical"},
		{"dot", ok(`{"method":"GET","path":"/a/./b"}`), "canonical"},
		{"empty segment", ok(`{"method":"GET","path":"/a//b"}`), "canonical"},
		{"fragment", ok(`{"method":"GET","path":"/a#x"}`), "not a relative path"},
		{"nested", ok(`{"method":"POST","path":"/batch","body":{}}`), "nested"},
		{"nested query", ok(`{"method":"POST","path":"/batch?x=1","body":{}}`), "nested"},
		{"body on GET", ok(`{"method":"GET","path":"/a","body":{"x":1}}`), "takes no body"},
		{"authorization", ok(`{"method":"GET","path":"/a","headers":{"authorization":"Bearer x"}}`), "not allowed"},
		{"x-hub", ok(`{"method":"GET","path":"/a","headers":{"X-Hub-Tx":"x"}}`), "not allowed"},
		{"crlf", ok(`{"method":"GET","path":"/a","headers":{"If-Match":"a\r\nX: y"}}`), "control character"},
		{"forward ref", ok(`{"method":"GET","path":"/a/{$1.body.id}"},{"method":"GET","path":"/a"}`), "does not come before"},
		{"self ref", ok(`{"method":"GET","path":"/a/{$0.body.id}"}`), "does not come before"},
		{"malformed ref", ok(`{"method":"GET","path":"/a"},{"method":"GET","path":"/a/{$0.body.id"}`), "malformed reference"},
		{"malformed ref in body", ok(`{"method":"GET","path":"/a"},{"method":"POST","path":"/a","body":{"x":"{$0}"}}`), "malformed reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBatch([]byte(tc.body), 100, allowedDefault())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v %+v", err, err)
				}
				return
			}
			var inv *errInvalid
			if !errors.As(err, &inv) {
				t.Fatalf("err %v, want an invalid batch (%q)", err, tc.want)
			}
			text := inv.detail
			for _, f := range inv.fields {
				text += " | " + f.Field + ": " + f.Message
			}
			if !strings.Contains(text, tc.want) {
				t.Fatalf("error %q lacks %q", text, tc.want)
			}
		})
	}
}

func TestParseBatchLimit(t *testing.T) {
	ops := strings.Repeat(`{"method":"GET","path":"/a"},`, 101)
	_, err := parseBatch([]byte(`{"operations":[`+strings.TrimSuffix(ops, ",")+`]}`), 100, allowedDefault())
	var tm *errTooMany
	if !errors.As(err, &tm) || tm.limit != 100 || tm.n != 101 || !strings.Contains(tm.Error(), "at most 100") {
		t.Fatalf("101 operations: %v", err)
	}
	ops = strings.Repeat(`{"method":"GET","path":"/a"},`, 100)
	if _, err := parseBatch([]byte(`{"operations":[`+strings.TrimSuffix(ops, ",")+`]}`), 100, allowedDefault()); err != nil {
		t.Fatalf("100 operations: %v", err)
	}
}

func TestRefsRecorded(t *testing.T) {
	b, err := parseBatch([]byte(`{"operations":[{"method":"GET","path":"/a"},{"method":"GET","path":"/b"},`+
		`{"method":"POST","path":"/c/{$1.body.id}","body":{"a":"{$0.body.x}","b":"{$1.body.y}"}}]}`), 100, allowedDefault())
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Operations[2].refs; len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("refs %v, want [0 1]", got)
	}
	if len(b.Operations[0].refs) != 0 {
		t.Fatalf("refs of operation 0: %v", b.Operations[0].refs)
	}
}
