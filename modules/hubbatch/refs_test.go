package hubbatch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// docs0 is the reference view of one created chantier.
func docs0(t *testing.T) []any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(`{"status":201,"headers":{"ETag":"\"v1\""},"body":{"id":42,"nom":"a/b c&d=e","data":[{"id":7}],"a/b":"slash","ok":true,"obj":{}}}`))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return []any{v}
}

func TestResolvePath(t *testing.T) {
	d := docs0(t)
	for in, want := range map[string]string{
		"/chantiers/{$0.body.id}":               "/chantiers/42",
		"/chantiers/{$0#/body/id}/affectations": "/chantiers/42/affectations",
		"/x/{$0.body.data.0.id}":                "/x/7",
		"/x/{$0#/body/a~1b}":                    "/x/slash",
		"/x/{$0.body.nom}":                      "/x/a%2Fb%20c&d=e", // one segment whatever the value
		"/x?nom={$0.body.nom}&fields=id":        "/x?nom=a%2Fb+c%26d%3De&fields=id",
		"/x/{$0.body.ok}/{$0.status}":           "/x/true/201",
	} {
		got, err := resolvePath(in, d)
		if err != nil || got != want {
			t.Errorf("resolvePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/x/{$0.body.missing}", "/x/{$0.body.obj}", "/x/{$0.body.data.9.id}", "/x/{$0.body.id.x}"} {
		var ue *errUnresolved
		if _, err := resolvePath(in, d); !errors.As(err, &ue) {
			t.Errorf("resolvePath(%q): err %v, want unresolved", in, err)
		}
	}
}

func TestResolveBody(t *testing.T) {
	d := docs0(t)
	got, err := resolveBody([]byte(`{"chantier_id":"{$0.body.id}","titre":"pour {$0.body.nom} n°{$0.body.id}","tag":"{$0.headers.ETag}","all":"{$0.body.data}"}`), d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatalf("resolved body is not JSON: %v: %s", err, got)
	}
	if m["chantier_id"] != float64(42) || m["titre"] != "pour a/b c&d=e n°42" || m["tag"] != `"v1"` {
		t.Fatalf("resolved body %s", got)
	}
	if all, _ := m["all"].([]any); len(all) != 1 {
		t.Fatalf("a whole-string reference to an array keeps it: %s", got)
	}
	if _, err := resolveBody([]byte(`{"x":"a {$0.body.obj}"}`), d); err == nil {
		t.Fatal("an object inside a longer string was accepted")
	}
}
