package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestCanonicalIDs: one row, one URL. "04" and "+4" used to name chantier
// 4, so a write through /04 left other principals' cached /4 stale and was
// audited as resource_id "04".
func TestCanonicalIDs(t *testing.T) {
	s := newStack(t, backends[0])
	s.cli("seed")
	s.createUser("ids@example.com", "admin")
	jwt := s.login("ids@example.com", "correct-horse-battery")
	if r := s.gwDo("GET", "/api/v1/chantiers/4", nil, bearer(jwt)...); r.status != 200 {
		t.Fatalf("GET /4: %d %s", r.status, r.body)
	}
	for _, alias := range []string{"04", "+4", "%2B4", "4.0", "0x4", "00004"} {
		for _, m := range []string{"GET", "PATCH", "DELETE"} {
			var body any
			if m == "PATCH" {
				body = map[string]any{"nom": "alias"}
			}
			r := s.gwDo(m, "/api/v1/chantiers/"+alias, body, bearer(jwt)...)
			if r.status != http.StatusNotFound {
				t.Fatalf("%s /api/v1/chantiers/%s: %d, want 404: %s", m, alias, r.status, r.body)
			}
		}
	}
	if r := s.gwDo("GET", "/api/v1/users/01", nil, bearer(jwt)...); r.status != http.StatusNotFound {
		t.Fatalf("GET /api/v1/users/01: %d, want 404", r.status)
	}
	// Nothing was written through an alias.
	if r := s.gwDo("GET", "/api/v1/chantiers/4", nil, bearer(jwt)...); r.status != 200 || strings.Contains(string(r.body), "alias") {
		t.Fatalf("GET /4 after alias writes: %d %s", r.status, r.body)
	}
}

// TestAmbiguousJSONRefused: bodies that two JSON parsers could read
// differently are refused with a problem that names no Go type.
func TestAmbiguousJSONRefused(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("json@example.com", "admin")
	jwt := s.login("json@example.com", "correct-horse-battery")
	for name, body := range map[string]string{
		"duplicate member":    `{"nom":"A","adresse":"x","nom":"B"}`,
		"v2 and v1 names":     `{"name":"A","nom":"B","location":"x"}`,
		"NUL":                 `{"nom":"A\u0000B","adresse":"x"}`,
		"invalid UTF-8":       "{\"nom\":\"A\xffB\",\"adresse\":\"x\"}",
		"array, not object":   `[{"nom":"A"}]`,
		"wrong member type":   `{"nom":["A"],"adresse":"x"}`,
		"trailing document":   `{"nom":"A","adresse":"x"}{}`,
		"unterminated object": `{"nom":"A"`,
	} {
		path := "/api/v1/chantiers"
		if name == "v2 and v1 names" {
			path = "/api/v2/chantiers"
		}
		req, err := http.NewRequest("POST", s.gw.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+jwt)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		checkProblemNoGoTypes(t, name, resp)
	}
}

func checkProblemNoGoTypes(t *testing.T, name string, resp *http.Response) {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s: %d %s: %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
	}
	for _, goName := range []string{"map[", "json.RawMessage", "Go value", "struct {"} {
		if strings.Contains(b.String(), goName) {
			t.Fatalf("%s: the problem shows a Go type (%s): %s", name, goName, b.String())
		}
	}
}
