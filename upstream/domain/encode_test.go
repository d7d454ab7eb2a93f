package domain

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/page"
)

// oldRecordJSON is the record encoding as it was before encode.go: one
// json.Marshal per member, the whole compacted again by encoding/json.
type oldRecordJSON struct{ rec *record }

func (o oldRecordJSON) MarshalJSON() ([]byte, error) {
	rec := o.rec
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	b.WriteString(strconv.FormatInt(rec.id, 10))
	write := func(name string, v any) {
		b.WriteString(`,"` + name + `":`)
		enc, _ := json.Marshal(v)
		b.Write(enc)
	}
	for _, f := range rec.res.fields {
		write(f.name, rec.vals[f.name])
	}
	write("created_at", db.FromMicros(rec.createdAt).Format(time.RFC3339))
	write("updated_at", db.FromMicros(rec.updatedAt).Format(time.RFC3339))
	write("version", rec.version)
	for _, m := range rec.extra {
		write(m.name, m.value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// TestListEncodingUnchanged checks that the one-buffer list encoder sends
// the bytes the reflective encoder sent, on awkward values.
func TestListEncodingUnchanged(t *testing.T) {
	recs := []*record{
		{res: chantiers, id: 1, createdAt: 1740816000123456, updatedAt: 1740816001000000, version: 3, vals: values{
			"nom": `<b>"Gare" & Cie</b>`, "adresse": "1 quai\n\tdu Port \u2028 \xff", "statut": "en_cours", "date_debut": "2025-03-01",
			"date_fin": nil, "responsable_id": int64(7), "client": "日本 🏗️", "budget": 1e21, "description": nil}},
		{res: chantiers, id: 2, createdAt: 0, updatedAt: -1, version: 1, vals: values{"nom": "", "budget": 1000.5}},
		{res: pointages, id: 3, createdAt: 5, updatedAt: 6, version: 1, vals: values{"heures": 7.25, "valide": true, "date": "2025-01-02"}},
		{res: affectations, id: 4, vals: values{}, extra: []member{{"chantier_nom", "A&B"}, {"user_nom", "Zoé"}}},
	}
	total := int64(42)
	next := "n.c"
	pg := page.NewOffset(2, 3, &total, false)
	pg.HasMore, pg.NextCursor = true, &next
	for _, pagination := range []any{pg, &page.Cursors{NextCursor: &next, Limit: 3, HasMore: true}} {
		old := make([]oldRecordJSON, len(recs))
		for i, r := range recs {
			old[i] = oldRecordJSON{r}
		}
		want, err := json.Marshal(page.List[oldRecordJSON]{Data: old, Pagination: pagination})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		writeList(w, recs, pagination)
		if got := w.Body.String(); got != string(want) {
			t.Errorf("list encoding changed:\n got %s\nwant %s", got, want)
		}
		if ct, cl := w.Header().Get("Content-Type"), w.Header().Get("Content-Length"); ct != "application/json" || cl != strconv.Itoa(len(want)) {
			t.Errorf("headers %q %q", ct, cl)
		}
	}
	w := httptest.NewRecorder()
	writeList(w, []*record{}, pg)
	if !bytes.HasPrefix(w.Body.Bytes(), []byte(`{"data":[],"pagination":{`)) {
		t.Errorf("empty list: %s", w.Body)
	}
	w = httptest.NewRecorder()
	writeRecord(w, 201, recs[0])
	want, _ := json.Marshal(oldRecordJSON{recs[0]})
	if w.Code != 201 || w.Body.String() != string(want) || w.Header().Get("ETag") != `"v3"` {
		t.Errorf("record: %d %s %s", w.Code, w.Header().Get("ETag"), w.Body)
	}
}
