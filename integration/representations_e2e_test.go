package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// TestRepresentations covers hub_fields and hub_version end to end on the
// real binaries with the default Caddyfile (issue 4).
func TestRepresentations(t *testing.T) {
	for _, b := range backends[:2] { // SQLite with the memory and the Redis store (cache hits)
		t.Run(b.name, func(t *testing.T) {
			s := newStack(t, b)
			s.createUser("admin@example.com", "admin")
			s.cli("seed")
			jwt := s.login("admin@example.com", "correct-horse-battery")
			_, key := s.createKey(jwt, map[string]any{"name": "repr", "scopes": []string{"read", "write"}})
			auth := bearer(key)
			get := func(path string) response {
				t.Helper()
				return s.gwDo("GET", path, nil, auth...)
			}

			t.Run("fields on an object", func(t *testing.T) {
				r := get("/api/v1/chantiers/1?fields=id,nom")
				reprKeys(t, r, r.json(t), "id", "nom")
				if r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
					t.Fatalf("Content-Length %q for %d bytes", r.header.Get("Content-Length"), len(r.body))
				}
			})

			t.Run("fields on a list keeps the envelope, on misses and hits", func(t *testing.T) {
				for i, sel := range []string{"id,statut", "nom", "id,statut"} {
					r := get("/api/v1/chantiers?limit=3&fields=" + sel)
					m := r.json(t)
					data, _ := m["data"].([]any)
					if len(data) != 3 || m["pagination"] == nil {
						t.Fatalf("round %d: envelope lost: %s", i, r.body)
					}
					for _, d := range data {
						reprKeys(t, r, d.(map[string]any), strings.Split(sel, ",")...)
					}
				}
			})

			t.Run("unknown field is a 400 listing the allowed ones", func(t *testing.T) {
				r := get("/api/v1/chantiers?fields=id,secret")
				p := reprProblem(t, r, 400, "invalid-fields")
				if !reprContains(p["allowed_fields"], "nom") || !reprContains(p["invalid_fields"], "secret") {
					t.Fatalf("problem lacks the lists: %s", r.body)
				}
			})

			t.Run("password hash is never selectable", func(t *testing.T) {
				for _, f := range []string{"password_hash", "id,password_hash", "*.password_hash"} {
					r := get("/api/v1/users?fields=" + url.QueryEscape(f))
					if r.status != 400 || bytes.Contains(r.body, []byte("$argon")) || bytes.Contains(r.body, []byte("$2")) {
						t.Fatalf("fields=%s: %d %s", f, r.status, r.body)
					}
				}
				r := get("/api/v1/users?fields=*")
				for _, d := range r.json(t)["data"].([]any) {
					if _, ok := d.(map[string]any)["email"]; !ok {
						t.Fatalf("* lost a whitelisted field: %s", r.body)
					}
				}
				if bytes.Contains(r.body, []byte("password")) {
					t.Fatalf("password material in %s", r.body)
				}
			})

			t.Run("fields where there is nothing to select", func(t *testing.T) {
				// A known resource without a whitelist: a clear 400 with an
				// empty (not null) list, in both versions.
				for path, member := range map[string]string{"/api/v1/stats?fields=id": "allowed_fields", "/api/v2/stats?fields=id": "allowedFields"} {
					r := get(path)
					p := reprProblem(t, r, 400, "fields-not-supported")
					if l, ok := p[member].([]any); !ok || len(l) != 0 {
						t.Fatalf("%s: %s %v, want []: %s", path, member, p[member], r.body)
					}
				}
				// An unknown path is the upstream's 404, whatever ?fields= says.
				for _, path := range []string{"/api/v1/nope?fields=id", "/api/v1/nope/3?fields=id"} {
					if r := get(path); r.status != 404 {
						t.Fatalf("%s: %d %s, want 404", path, r.status, r.body)
					}
				}
			})

			t.Run("fields on key lists, under a namespace and a group", func(t *testing.T) {
				for _, path := range []string{"/api/auth/api-keys?fields=id,status", "/api/v1/admin/api-keys?fields=id,status"} {
					r := s.gwDo("GET", path, nil, "Authorization", "Bearer "+jwt)
					data, _ := r.json(t)["data"].([]any)
					if r.status != 200 || len(data) == 0 {
						t.Fatalf("%s: %d %s", path, r.status, r.body)
					}
					for _, d := range data {
						reprKeys(t, r, d.(map[string]any), "id", "status")
					}
				}
				r := s.gwDo("GET", "/api/auth/api-keys?fields=id,key_hash", nil, "Authorization", "Bearer "+jwt)
				reprProblem(t, r, 400, "invalid-fields")
			})

			t.Run("v1 is byte-identical to the upstream, plus deprecation headers", func(t *testing.T) {
				const path = "/api/v1/chantiers?limit=5"
				gw := get(path)
				tok, err := assertion.Sign([]byte(s.secret), assertion.Claims{Subject: "1", Role: "admin", Method: "api_key", Scopes: []string{"read"}, HTTPMethod: "GET"}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				direct := s.do("GET", "http://"+s.up.Addr+path, nil, assertion.Header, tok)
				if gw.status != 200 || direct.status != 200 || !bytes.Equal(gw.body, direct.body) {
					t.Fatalf("bodies differ (%d, %d):\n%s\n%s", gw.status, direct.status, gw.body, direct.body)
				}
				if d := gw.header.Get("Deprecation"); d != "@1767225600" {
					t.Fatalf("Deprecation %q", d)
				}
				if sun := gw.header.Get("Sunset"); sun != "Wed, 30 Jun 2027 00:00:00 GMT" {
					t.Fatalf("Sunset %q", sun)
				}
				links := strings.Join(gw.header.Values("Link"), ", ")
				if !strings.Contains(links, `</api/v2/chantiers>; rel="successor-version"`) || !strings.Contains(links, `rel="deprecation"`) {
					t.Fatalf("Link %q", links)
				}
			})

			t.Run("v2 GET renames, nested and in the envelope", func(t *testing.T) {
				r := get("/api/v2/chantiers/1")
				m := r.json(t)
				for _, k := range []string{"name", "location", "status", "startDate", "managerId", "createdAt"} {
					if _, ok := m[k]; !ok {
						t.Fatalf("v2 object lacks %s: %s", k, r.body)
					}
				}
				if _, ok := m["nom"]; ok {
					t.Fatalf("v1 name in v2: %s", r.body)
				}
				if r.header.Get("Deprecation") != "" {
					t.Fatal("v2 marked deprecated")
				}
				r = get("/api/v2/chantiers?limit=2&fields=name,location")
				lm := r.json(t)
				for _, d := range lm["data"].([]any) {
					reprKeys(t, r, d.(map[string]any), "name", "location")
				}
				if pg, _ := lm["pagination"].(map[string]any); pg == nil || pg["totalPages"] == nil {
					t.Fatalf("pagination not renamed: %s", r.body)
				}
			})

			t.Run("v2 fields problem speaks v2", func(t *testing.T) {
				r := get("/api/v2/chantiers?fields=name,passwordHash")
				p := reprProblem(t, r, 400, "invalid-fields")
				if !reprContains(p["allowedFields"], "startDate") || !reprContains(p["invalidFields"], "passwordHash") {
					t.Fatalf("v2 problem: %s", r.body)
				}
			})

			var created string
			t.Run("v2 POST and PATCH rename bodies and Location", func(t *testing.T) {
				r := s.gwDo("POST", "/api/v2/chantiers", map[string]any{"name": "Gare v2", "location": "1 quai", "startDate": "2025-01-01", "endDate": "2025-06-30"}, auth...)
				if r.status != 201 {
					t.Fatalf("POST: %d %s", r.status, r.body)
				}
				created = r.header.Get("Location")
				if !strings.HasPrefix(created, "/api/v2/chantiers/") {
					t.Fatalf("Location %q", created)
				}
				if m := r.json(t); m["name"] != "Gare v2" || m["endDate"] != "2025-06-30" {
					t.Fatalf("POST answer: %s", r.body)
				}
				v1 := get(strings.Replace(created, "/api/v2/", "/api/v1/", 1)).json(t)
				if v1["nom"] != "Gare v2" || v1["adresse"] != "1 quai" {
					t.Fatalf("stored in v1: %v", v1)
				}
				r = s.gwDo("PATCH", created, map[string]any{"status": "en_cours", "location": "2 quai"}, auth...)
				if m := r.json(t); r.status != 200 || m["status"] != "en_cours" || m["location"] != "2 quai" {
					t.Fatalf("PATCH: %d %s", r.status, r.body)
				}
			})

			t.Run("v2 validation problem names v2 fields", func(t *testing.T) {
				for _, c := range []struct {
					body map[string]any
					want string
				}{
					{map[string]any{"location": "x"}, "name"},
					{map[string]any{"name": "x", "startDate": "2025-02-01", "endDate": "2025-01-01"}, "endDate"},
					{map[string]any{"name": "x", "bogusField": 1}, "bogusField"},
				} {
					r := s.gwDo("POST", "/api/v2/chantiers", c.body, auth...)
					p := reprProblem(t, r, 400, "validation")
					var fields []string
					for _, e := range p["errors"].([]any) {
						fields = append(fields, e.(map[string]any)["field"].(string))
					}
					sort.Strings(fields)
					if strings.Join(fields, ",") != c.want {
						t.Fatalf("error fields %v in %s", fields, r.body)
					}
				}
				r := s.gwDo("POST", "/api/v2/chantiers", map[string]any{}, auth...)
				p := reprProblem(t, r, 400, "validation")
				if inst, _ := p["instance"].(string); !strings.HasPrefix(inst, "/api/v2/") {
					t.Fatalf("instance %q", inst)
				}
				req, _ := http.NewRequest("POST", s.gw.URL+"/api/v2/chantiers", strings.NewReader(`{"name":`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(auth[0], auth[1])
				resp, err := s.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				reprProblem(t, response{status: resp.StatusCode, header: resp.Header, body: body}, 400, "validation")
			})

			t.Run("v2 cursor walk with a renamed filter", func(t *testing.T) {
				want := len(get("/api/v1/chantiers?statut=planifie&limit=100").json(t)["data"].([]any))
				seen, cursor := 0, ""
				for i := 0; i < 50; i++ {
					r := get("/api/v2/chantiers?status=planifie&limit=2&fields=id,status&cursor=" + url.QueryEscape(cursor))
					m := r.json(t)
					for _, d := range m["data"].([]any) {
						if d.(map[string]any)["status"] != "planifie" {
							t.Fatalf("filter lost: %s", r.body)
						}
						seen++
					}
					pg := m["pagination"].(map[string]any)
					if pg["hasMore"] != true {
						break
					}
					cursor = pg["nextCursor"].(string)
				}
				if seen != want || want == 0 {
					t.Fatalf("walked %d, v1 has %d", seen, want)
				}
			})

			t.Run("OpenAPI v1 and v2", func(t *testing.T) {
				v1 := s.gwDo("GET", "/api/openapi.json", nil)
				v2 := s.gwDo("GET", "/api/v2/openapi.json", nil)
				for _, c := range []struct {
					r          response
					prefix     string
					prop, gone string
				}{{v1, "/api/v1/chantiers", "date_debut", "startDate"}, {v2, "/api/v2/chantiers", "startDate", "date_debut"}} {
					doc := c.r.json(t)
					if doc["openapi"] != "3.1.0" {
						t.Fatalf("not OpenAPI 3.1: %.200s", c.r.body)
					}
					if _, ok := doc["paths"].(map[string]any)[c.prefix]; !ok {
						t.Fatalf("no %s path", c.prefix)
					}
					props := doc["components"].(map[string]any)["schemas"].(map[string]any)["Chantier"].(map[string]any)["properties"].(map[string]any)
					if _, ok := props[c.prop]; !ok {
						t.Fatalf("Chantier lacks %s", c.prop)
					}
					if _, ok := props[c.gone]; ok {
						t.Fatalf("Chantier has %s", c.gone)
					}
				}
			})
		})
	}
}

// reprKeys fails unless m has exactly keys.
func reprKeys(t *testing.T, r response, m map[string]any, keys ...string) {
	t.Helper()
	if r.status != 200 || len(m) != len(keys) {
		t.Fatalf("want exactly %v: %d %s", keys, r.status, r.body)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Fatalf("want exactly %v: %s", keys, r.body)
		}
	}
}

// reprProblem checks a problem answer and returns it.
func reprProblem(t *testing.T, r response, status int, slug string) map[string]any {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("want %d problem: %d %s %s", status, r.status, r.header.Get("Content-Type"), r.body)
	}
	p := r.json(t)
	if p["type"] != "urn:hubchantier:problem:"+slug {
		t.Fatalf("problem type %v, want %s", p["type"], slug)
	}
	return p
}

func reprContains(list any, s string) bool {
	l, _ := list.([]any)
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
