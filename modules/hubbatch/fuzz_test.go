package hubbatch

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzBatch feeds client bodies to the parser and, for the valid ones,
// resolves every operation's references against results that hold odd
// values. Invariants: no panic; a valid batch has 1..limit operations with
// references only to earlier ones; a resolved path is either refused or
// canonical and not the batch endpoint; a resolved body is JSON.
func FuzzBatch(f *testing.F) {
	for _, seed := range []string{
		`{"operations":[{"method":"GET","path":"/chantiers"}]}`,
		`{"operations":[{"method":"POST","path":"/chantiers","body":{"nom":"x"}},{"method":"GET","path":"/chantiers/{$0.body.id}?fields=id"}],"parallel":true}`,
		`{"operations":[{"method":"POST","path":"/a","body":{}},{"method":"PATCH","path":"/a/{$0#/body/id}","headers":{"If-Match":"{$0.headers.ETag}"},"body":{"x":"{$0.body.id}","y":"n {$0.body.nom}"}}],"atomic":true}`,
		`{"operations":[{"method":"GET","path":"/a/{$0.body.id"}]}`,
		`{"operations":[{"method":"GET","path":"/../internal"}]}`,
		`{"operations":[{"method":"POST","path":"/batch","body":{"operations":[]}}]}`,
		`{"operations":[{"method":"GET","path":"/a"},{"method":"GET","path":"/{$0#/body/~1..~1x}"}]}`,
		`{"operations":[]}`, `[]`, `{"operations":null}`, `{"operations":[{}]}`,
	} {
		f.Add([]byte(seed))
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(`{"status":201,"headers":{"ETag":"\"v\""},"body":{"id":"../batch","nom":"a\"b\\c\n","/..":"x","n":1e3,"data":[{"id":"?"}]}}`))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		f.Fatal(err)
	}
	allowed := allowedDefault()
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseBatch(body, 5, allowed)
		if err != nil {
			return
		}
		if len(b.Operations) == 0 || len(b.Operations) > 5 {
			t.Fatalf("%d operations accepted", len(b.Operations))
		}
		docs := make([]any, len(b.Operations))
		for i := range docs {
			docs[i] = doc
		}
		for i, op := range b.Operations {
			for _, r := range op.refs {
				if r >= i {
					t.Fatalf("operation %d refers to %d", i, r)
				}
			}
			p, err := resolvePath(op.Path, docs[:i+1])
			if err == nil && cleanPath(p) == "" {
				if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.Contains(strings.SplitN(p, "?", 2)[0], "/../") {
					t.Fatalf("resolved path %q escapes", p)
				}
			}
			if len(op.Body) > 0 {
				if out, err := resolveBody(op.Body, docs[:i+1]); err == nil && !json.Valid(out) {
					t.Fatalf("resolved body is not JSON: %s → %s", op.Body, out)
				}
			}
		}
	})
}
