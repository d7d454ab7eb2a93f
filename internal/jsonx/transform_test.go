package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustMapping(t testing.TB) *Mapping {
	t.Helper()
	m, err := NewMapping(map[string]string{"nom": "name", "adresse": "location", "responsable": "manager", "date_debut": "startDate"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sel(t testing.TB, s string) *Node {
	t.Helper()
	n, err := ParseFields(s, MaxFields, MaxLevels)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestApply(t *testing.T) {
	m := mustMapping(t)
	obj := `{"id":1,"nom":"A","adresse":"x","responsable":{"id":7,"nom":"Jo","email":"j@x"},"tags":[{"nom":"t","k":1}],"date_debut":null}`
	list := `{"data":[{"id":1,"nom":"A","statut":"en_cours"},{"id":2,"nom":"B","statut":"termine"}],"pagination":{"next_cursor":"abc","has_more":true}}`
	tests := []struct {
		name string
		in   string
		opts Options
		want string
	}{
		{"copy", obj, Options{}, obj},
		{"copy is verbatim", `{ "a" : [1, 2.5e3, "x\"y", true, null] }`, Options{}, `{ "a" : [1, 2.5e3, "x\"y", true, null] }`},
		{"rename compacts containers", `{ "a" : [1, "x\"y"] }`, Options{Rename: m.AppendV2}, `{"a":[1,"x\"y"]}`},
		{"select top", obj, Options{Select: sel(t, "id,nom")}, `{"id":1,"nom":"A"}`},
		{"select nested", obj, Options{Select: sel(t, "id,responsable.nom")}, `{"id":1,"responsable":{"nom":"Jo"}}`},
		{"select through array", obj, Options{Select: sel(t, "tags.k")}, `{"tags":[{"k":1}]}`},
		{"select whole wins", obj, Options{Select: sel(t, "responsable.nom,responsable")}, `{"responsable":{"id":7,"nom":"Jo","email":"j@x"}}`},
		{"select missing member", obj, Options{Select: sel(t, "nope")}, `{}`},
		{"envelope", list, Options{Select: sel(t, "id"), Envelope: true}, `{"data":[{"id":1},{"id":2}],"pagination":{"next_cursor":"abc","has_more":true}}`},
		{"rename", obj, Options{Rename: m.AppendV2}, `{"id":1,"name":"A","location":"x","manager":{"id":7,"name":"Jo","email":"j@x"},"tags":[{"name":"t","k":1}],"startDate":null}`},
		{"rename envelope", list, Options{Rename: m.AppendV2, Select: sel(t, "nom"), Envelope: true}, `{"data":[{"name":"A"},{"name":"B"}],"pagination":{"nextCursor":"abc","hasMore":true}}`},
		{"rename escaped key", `{"a\u005fb":1}`, Options{Rename: m.AppendV2}, `{"aB":1}`},
		{"top-level array", `[{"nom":1,"x":2}]`, Options{Select: sel(t, "nom")}, `[{"nom":1}]`},
		{"scalar under selection", `{"nom":"A"}`, Options{Select: sel(t, "nom.x")}, `{"nom":"A"}`},
		{"empty containers", `{"a":{},"b":[]}`, Options{Rename: m.AppendV2}, `{"a":{},"b":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(nil, []byte(tt.in), &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("output not valid JSON: %s", got)
			}
		})
	}
}

func TestApplyInvalid(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1 2]`, `{"a":tru}`, `"abc`, `{"a":1} x`, `{"a":-}`, "\"a\x01\"", strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2)} {
		if _, err := Apply(nil, []byte(in), &Options{Rename: Camel2}); err == nil {
			t.Errorf("%q: no error", in)
		}
		if Valid([]byte(in)) {
			t.Errorf("%q: Valid", in)
		}
	}
}

// Camel2 is a RenameFunc for tests.
func Camel2(dst, key []byte) []byte { return appendCamel(dst, key) }

func TestNames(t *testing.T) {
	m := mustMapping(t)
	tests := []struct{ v1, v2 string }{
		{"nom", "name"}, {"date_debut", "startDate"}, {"date_fin", "dateFin"}, {"next_cursor", "nextCursor"},
		{"id", "id"}, {"_links", "_links"}, {"a_1", "a_1"}, {"total_pages", "totalPages"}, {"x_y_z", "xYZ"},
	}
	for _, tt := range tests {
		if got := m.V2(tt.v1); got != tt.v2 {
			t.Errorf("V2(%q) = %q, want %q", tt.v1, got, tt.v2)
		}
		if got := m.V1(tt.v2); got != tt.v1 {
			t.Errorf("V1(%q) = %q, want %q", tt.v2, got, tt.v1)
		}
	}
	if got := Path("responsable.nom", m.V2); got != "manager.name" {
		t.Errorf("Path = %q", got)
	}
}

func TestNewMappingRefusesAmbiguity(t *testing.T) {
	for _, r := range []map[string]string{
		{"a": "x", "b": "x"},
		{"a b": "x"},
		{"date_fin": "fin", "fin_x": "dateFin"},
	} {
		if _, err := NewMapping(r); err == nil {
			t.Errorf("%v: accepted", r)
		}
	}
}

func BenchmarkSelectList(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":[`)
	for i := 0; i < 50; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":1,"nom":"Chantier de la gare","adresse":"12 rue de la Paix, 75002 Paris","statut":"en_cours","date_debut":"2024-01-01","date_fin":null,"responsable_id":3,"client":"Ville","budget":125000.5,"description":"Réfection complète de la toiture et des façades","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","version":3}`)
	}
	sb.WriteString(`],"pagination":{"page":1,"limit":50,"total":50,"total_pages":1}}`)
	body := []byte(sb.String())
	m := mustMapping(b)
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"select3", Options{Select: sel(b, "id,nom,statut"), Envelope: true}},
		{"renameV2", Options{Rename: m.AppendV2}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			dst := make([]byte, 0, len(body))
			for b.Loop() {
				var err error
				if dst, err = Apply(dst[:0], body, &c.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
