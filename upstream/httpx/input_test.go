package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/internal/problem"
)

func TestParseID(t *testing.T) {
	for s, want := range map[string]int64{"1": 1, "4": 4, "10": 10, "9223372036854775807": 1<<63 - 1} {
		if got, ok := ParseID(s); !ok || got != want {
			t.Errorf("ParseID(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "0", "04", "+4", "-4", " 4", "4 ", "4.0", "0x4", "4e0", "9223372036854775808", "99999999999999999999", "٤"} {
		if got, ok := ParseID(s); ok {
			t.Errorf("ParseID(%q) = %d, accepted; want refused", s, got)
		}
	}
}

// FuzzParseID: whatever is accepted is the canonical decimal of the id.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "04", "+4", "9223372036854775807", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseID(s)
		if ok && (n < 1 || strings.TrimLeft(s, "0") != s || itoa(n) != s) {
			t.Fatalf("ParseID(%q) = %d: not canonical", s, n)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestDecodeJSONRefusals(t *testing.T) {
	type target struct {
		Nom   string `json:"nom"`
		Count int    `json:"count"`
		Tags  []string
	}
	cases := []struct {
		name, body, want string
	}{
		{"invalid utf-8", "{\"nom\":\"a\xffb\"}", "UTF-8"},
		{"escaped NUL", `{"nom":"a\u0000b"}`, "NUL"},
		{"NUL in a name", `{"no\u0000m":"x"}`, "NUL"},
		{"duplicate member", `{"nom":"a","nom":"b"}`, `member "nom" appears more than once`},
		{"nested duplicate", `{"Tags":[],"x":{"a":1,"a":2}}`, `member "a" appears more than once`},
		{"array not object", `[1,2]`, "the body must be an object"},
		{"string not object", `"x"`, "the body must be an object"},
		{"wrong field type", `{"count":"3"}`, `field "count" must be an integer`},
		{"array field", `{"Tags":"x"}`, `field "Tags" must be an array`},
		{"empty", ``, "a JSON body is required"},
		{"two values", `{"nom":"a"} {"nom":"b"}`, "single JSON value"},
		{"syntax", `{"nom":}`, "invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/chantiers", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			var v target
			if DecodeJSON(w, r, &v) {
				t.Fatalf("accepted %q as %+v", c.body, v)
			}
			if w.Code != http.StatusBadRequest || w.Header().Get("Content-Type") != problem.ContentType {
				t.Fatalf("answer %d %s", w.Code, w.Header().Get("Content-Type"))
			}
			body := w.Body.String()
			var p problem.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || !strings.Contains(p.Detail, c.want) {
				t.Fatalf("answer %s does not say %q", body, c.want)
			}
			for _, goName := range []string{"map[", "json.RawMessage", "httpx.", "struct", "int64", "[]string"} {
				if strings.Contains(body, goName) {
					t.Fatalf("answer shows a Go type name (%s): %s", goName, body)
				}
			}
		})
	}
	// What is fine stays fine: same names in sibling objects, escapes.
	for _, ok := range []string{`{"nom":"a\u00e9\n","Tags":["x","x"]}`, `{"nom":"{\"nom\":1,\"nom\":2}"}`} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(ok))
		var v target
		if w := httptest.NewRecorder(); !DecodeJSON(w, r, &v) {
			t.Errorf("refused %s: %s", ok, w.Body)
		}
	}
	var m map[string]json.RawMessage
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":{"b":1},"c":[{"b":2},{"b":3}]}`))
	if w := httptest.NewRecorder(); !DecodeJSON(w, r, &m) {
		t.Errorf("refused sibling objects with the same names: %s", w.Body)
	}
}

// FuzzCheckJSON: CheckJSON never panics, and whatever it accepts is valid
// UTF-8 that encoding/json accepts too.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[{"a":[]},{"a":{}}]`, `"\u0000"`, "{\"a\":\"\xff\"}", `{"a":{"b":{"c":[1,{"d":null}]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckJSON(b) == nil && len(b) > 0 && !json.Valid(b) {
			dec := json.NewDecoder(strings.NewReader(string(b)))
			var v any
			for dec.More() {
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("CheckJSON accepted %q, which encoding/json refuses: %v", b, err)
				}
			}
		}
	})
}
