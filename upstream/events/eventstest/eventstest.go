// Package eventstest checks emitted events against docs/events.md, for
// the tests of every package that emits them. Only tests import it.
package eventstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// Documented returns the example envelope of every type in docs/events.md:
// the ```json block that follows each "### `<type>`" heading.
func Documented(t testing.TB) map[string]map[string]any {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)### `([a-z_]+\\.[a-z_]+)`[^#]*?```json\n(.*?)```")
	out := map[string]map[string]any{}
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		var v map[string]any
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			t.Fatalf("docs/events.md %s example: %v", m[1], err)
		}
		out[m[1]] = v
	}
	return out
}

// CheckDocumented fails t unless the emitted envelope payload has exactly
// the shape docs/events.md documents for its type: the same members at
// every depth, with the same JSON kinds (a documented null matches any
// kind: an optional member). It returns the event's type.
func CheckDocumented(t testing.TB, doc map[string]map[string]any, payload []byte) string {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatalf("event is not JSON: %v", err)
	}
	typ, _ := got["type"].(string)
	want, ok := doc[typ]
	if !ok {
		t.Errorf("docs/events.md documents no %q", typ)
		return typ
	}
	if d := ShapeDiff("", want, got); d != "" {
		t.Errorf("%s differs from docs/events.md: %s", typ, d)
	}
	return typ
}

// ShapeDiff compares the JSON kinds and object members of two decoded
// values ("" when they agree; null matches anything; values are not
// compared).
func ShapeDiff(at string, want, got any) string {
	if want == nil || got == nil {
		return ""
	}
	if reflect.TypeOf(want) != reflect.TypeOf(got) {
		return at + ": documented " + reflect.TypeOf(want).String() + ", sent " + reflect.TypeOf(got).String()
	}
	w, ok := want.(map[string]any)
	if !ok {
		return ""
	}
	g := got.(map[string]any)
	if kw, kg := keys(w), keys(g); !reflect.DeepEqual(kw, kg) {
		return at + ": documented members " + strings.Join(kw, ",") + ", sent " + strings.Join(kg, ",")
	}
	for k := range w {
		if d := ShapeDiff(at+"."+k, w[k], g[k]); d != "" {
			return d
		}
	}
	return ""
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
