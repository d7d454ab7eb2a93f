package jsonx

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseFields: any ?fields= value either parses within the limits or is
// a *SyntaxError; a parsed tree resolves against a whitelist to a subset of
// it.
func FuzzParseFields(f *testing.F) {
	for _, s := range []string{"id,nom", "responsable.nom", "*", "a.*", "a..b", "", ",", "a,a.b,a", strings.Repeat("a.", 6) + "a", "é", "x.y.z,*"} {
		f.Add(s)
	}
	wl, _ := Whitelist([]string{"id", "nom", "responsable.nom", "responsable.id", "tags"})
	allowed := map[string]bool{}
	for _, n := range wl.Names() {
		allowed[n] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseFields(s, MaxFields, MaxLevels)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("%q: error %T", s, err)
			}
			return
		}
		if len(n.Names()) > MaxFields {
			t.Fatalf("%q: %d names", s, len(n.Names()))
		}
		got, err := Resolve(n, wl)
		if err != nil {
			if !IsUnknown(err) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		for _, name := range got.Names() {
			ok := allowed[name]
			for a := range allowed {
				if strings.HasPrefix(name, a+".") {
					ok = true // tags allows tags.x
				}
			}
			if !ok {
				t.Fatalf("%q selects %q outside the whitelist", s, name)
			}
		}
	})
}

// FuzzRenameRoundTrip: renaming a document v1→v2→v1 is the identity when
// its member names are snake_case (the names hub_version maps), and the
// output of any transformation of valid JSON is valid JSON with the same
// values.
func FuzzRenameRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"nom":"A","date_debut":"2024-01-01","responsable":{"user_id":3,"x_y_z":[{"a_b":null}]}}`,
		`{"data":[{"next_cursor":"x"}],"pagination":{"has_more":true}}`,
		`[1,"a",{"b_c":{"d_e":[]}}]`, `"s"`, `12.5e-3`, `{"a1_b2":{"c":true}}`,
	} {
		f.Add([]byte(s))
	}
	m, err := NewMapping(map[string]string{"nom": "name", "adresse": "location", "date_debut": "startDate", "responsable": "manager"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v2, err := Apply(nil, in, &Options{Rename: m.AppendV2})
		if err != nil {
			if json.Valid(in) && depth(in) <= MaxDepth {
				t.Fatalf("valid JSON refused: %v: %q", err, in)
			}
			return
		}
		if !json.Valid(v2) {
			t.Fatalf("invalid output %q from %q", v2, in)
		}
		if !json.Valid(in) {
			t.Fatalf("invalid input accepted: %q", in)
		}
		if !mapped(in, m) {
			return
		}
		back, err := Apply(nil, v2, &Options{Rename: m.AppendV1})
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(in, &a)
		_ = json.Unmarshal(back, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the document:\n%s\n%s", in, back)
		}
	})
}

func depth(b []byte) int {
	d, max := 0, 0
	inStr := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			d++
			if d > max {
				max = d
			}
		case !inStr && (c == '}' || c == ']'):
			d--
		}
	}
	return max
}

// mapped reports whether every member name of the document is a snake_case
// v1 name whose v2 image maps back to it (and is not a rename target of
// another name), and no two members of an object share a v2 name.
func mapped(in []byte, m *Mapping) bool {
	var v any
	if json.Unmarshal(in, &v) != nil {
		return false
	}
	var ok func(v any) bool
	ok = func(v any) bool {
		switch t := v.(type) {
		case map[string]any:
			seen := map[string]bool{}
			for k, x := range t {
				if !snake(k) || m.V1(m.V2(k)) != k || seen[m.V2(k)] {
					return false
				}
				seen[m.V2(k)] = true
				if !ok(x) {
					return false
				}
			}
		case []any:
			for _, x := range t {
				if !ok(x) {
					return false
				}
			}
		}
		return true
	}
	return ok(v)
}

// snake: lowercase words of letters and digits, each starting with a
// letter, joined by single underscores.
func snake(k string) bool {
	if k == "" {
		return false
	}
	for _, w := range strings.Split(k, "_") {
		if w == "" || w[0] < 'a' || w[0] > 'z' {
			return false
		}
		for i := 0; i < len(w); i++ {
			if !(w[i] >= 'a' && w[i] <= 'z' || w[i] >= '0' && w[i] <= '9') {
				return false
			}
		}
	}
	return true
}
