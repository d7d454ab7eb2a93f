package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestReadmeTour replays the README's tour ("A tour" and the fields, v2,
// OAuth2 and audit blocks) through the real binaries, in the README's order
// and with its data (make run's seed and demo key), so the README stays
// true. When a step here changes, change the README line with it.
func TestReadmeTour(t *testing.T) {
	t.Setenv("HUB_PUBLIC_URL", "http://localhost:8080")                                         // as make run sets it
	t.Setenv("HUB_WEBHOOK_ALLOW_PRIVATE", "true")                                               // as make run sets it (deploy/dev.sh)
	t.Setenv("HUB_CONNECTOR_KEYS", "dev1:"+base64.StdEncoding.EncodeToString(make([]byte, 32))) // make run generates one
	s := newStack(t, backends[0])
	s.cli("seed") // make run: migrate, seed, apikey demo
	key := strings.TrimSpace(s.cli("apikey", "demo", "--user", "admin@hubchantier.local"))
	if !strings.HasPrefix(key, "hbc_") {
		t.Fatalf("apikey demo printed %q, want the key alone", key)
	}
	xkey := []string{"X-API-Key", key}

	// want fails unless r has the status, showing the tour step.
	want := func(step string, r response, status int) map[string]any {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: status %d, want %d: %s", step, r.status, status, r.body)
		}
		if strings.HasPrefix(r.header.Get("Content-Type"), "application/") && len(r.body) > 0 {
			return r.json(t)
		}
		return nil
	}
	items := func(m map[string]any) []any { d, _ := m["data"].([]any); return d }

	// Both key headers list chantiers.
	m := want("Bearer key", s.gwDo("GET", "/api/v1/chantiers?limit=2", nil, bearer(key)...), 200)
	if len(items(m)) != 2 {
		t.Fatalf("limit=2 gave %d items", len(items(m)))
	}
	m = want("X-API-Key", s.gwDo("GET", "/api/v1/chantiers/1", nil, xkey...), 200)
	if m["id"] != float64(1) {
		t.Fatalf("chantiers/1: %v", m)
	}

	// Keyset pagination from an empty cursor, following next_cursor.
	m = want("cursor page 1", s.gwDo("GET", "/api/v1/chantiers?cursor=&limit=3", nil, xkey...), 200)
	next, _ := m["pagination"].(map[string]any)["next_cursor"].(string)
	if len(items(m)) != 3 || next == "" {
		t.Fatalf("cursor page 1: %s", m)
	}
	m = want("cursor page 2", s.gwDo("GET", "/api/v1/chantiers?limit=3&cursor="+url.QueryEscape(next), nil, xkey...), 200)
	if first, _ := items(m)[0].(map[string]any); first["id"] != float64(4) {
		t.Fatalf("cursor page 2 starts at %v, want 4", first["id"])
	}

	// No credentials: 401 problem with WWW-Authenticate.
	r := s.gwDo("GET", "/api/v1/chantiers", nil)
	wantProblem(t, "no credentials", r, 401, "unauthenticated")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate Bearer: %q", r.header.Get("WWW-Authenticate"))
	}

	// A seeded user logs in and manages a chantiers:read key.
	token := s.login("conducteur@hubchantier.local", "demo-password")
	id, rk := s.createKey(token, map[string]any{"name": "erp", "scopes": []string{"chantiers:read"},
		"ip_whitelist": []string{"127.0.0.1", "::1"}})
	want("read key reads", s.gwDo("GET", "/api/v1/chantiers/1", nil, "X-API-Key", rk), 200)
	wantProblem(t, "read key writes", s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "X", "adresse": "Y", "statut": "planifie"},
		"X-API-Key", rk), 403, "insufficient-scope")
	r = s.gwDo("GET", "/api/auth/api-keys", nil, bearer(token)...)
	if want("list keys", r, 200); !strings.Contains(string(r.body), `"id":"`+id+`"`) || strings.Contains(string(r.body), "hbc_") {
		t.Fatalf("key list: want %s and no secret: %s", id, r.body)
	}
	m = want("rotate", s.gwDo("POST", "/api/auth/api-keys/"+id+"/rotate", nil, bearer(token)...), 200)
	nk, _ := m["key"].(string)
	if !strings.HasPrefix(nk, "hbc_") || nk == rk || m["grace_until"] == nil {
		t.Fatalf("rotate: %v", m)
	}
	want("old secret in grace", s.gwDo("GET", "/api/v1/chantiers/1", nil, "X-API-Key", rk), 200)
	want("new secret", s.gwDo("GET", "/api/v1/chantiers/1", nil, "X-API-Key", nk), 200)
	want("revoke", s.gwDo("DELETE", "/api/auth/api-keys/"+id, nil, bearer(token)...), 204)
	for _, k := range []string{rk, nk} {
		eventually(t, 10*time.Second, "revoked key refused", func() bool {
			return s.gwDo("GET", "/api/v1/chantiers/1", nil, "X-API-Key", k).status == 401
		})
	}

	// The demo key writes.
	want("create chantier", s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Résidence Les Tilleuls",
		"adresse": "12 rue des Lilas, Lyon", "statut": "planifie"}, xkey...), 201)

	// If-Match "v1" on the seeded chantier 1: 200 once, then 412.
	patch := func(etag, body string) response {
		return s.do("PATCH", s.gw.URL+"/api/v1/chantiers/1", json.RawMessage(body),
			with(xkey, "If-Match", etag, "Content-Type", "application/merge-patch+json")...)
	}
	want(`If-Match "v1" first`, patch(`"v1"`, `{"statut":"en_cours"}`), 200)
	wantProblem(t, `If-Match "v1" again`, patch(`"v1"`, `{"statut":"en_cours"}`), 412, "precondition-failed")

	// Conditional GET, then the ETag as If-Match: 200 then 412.
	r = s.gwDo("GET", "/api/v1/chantiers/1", nil, xkey...)
	want("GET for ETag", r, 200)
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("GET chantiers/1: no ETag")
	}
	r = s.gwDo("GET", "/api/v1/chantiers/1", nil, with(xkey, "If-None-Match", etag)...)
	if want("If-None-Match", r, 304); r.header.Get("ETag") != etag || r.header.Get("Cache-Control") == "" {
		t.Fatalf("304: ETag %q (want %q), Cache-Control %q", r.header.Get("ETag"), etag, r.header.Get("Cache-Control"))
	}
	want("If-Match current", patch(etag, `{"client":"Client 1"}`), 200)
	wantProblem(t, "If-Match stale", patch(etag, `{"client":"Client 2"}`), 412, "precondition-failed")

	// Rate limit headers on every answer.
	r = s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, xkey...)
	want("rate limited list", r, 200)
	for _, h := range []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if r.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}

	// Cache-Status: miss and stored, then hit; no-cache refetches.
	for i, prefix := range []string{"hubgate; fwd=miss; fwd-status=200; stored", "hubgate; hit", "hubgate; fwd=request"} {
		h := xkey
		if i == 2 {
			h = with(xkey, "Cache-Control", "no-cache")
		}
		r = s.gwDo("GET", "/api/v1/stats", nil, h...)
		if want("stats", r, 200); !strings.HasPrefix(r.header.Get("Cache-Status"), prefix) {
			t.Fatalf("stats #%d: Cache-Status %q, want %q…", i+1, r.header.Get("Cache-Status"), prefix)
		}
	}

	// ?fields= trims items and keeps the envelope; password_hash is refused.
	m = want("fields", s.gwDo("GET", "/api/v1/chantiers?limit=2&fields=id,nom,statut", nil, xkey...), 200)
	if it, _ := items(m)[0].(map[string]any); len(it) != 3 || it["nom"] == nil || m["pagination"] == nil {
		t.Fatalf("fields: %v", m)
	}
	r = s.gwDo("GET", "/api/v1/users?fields=password_hash", nil, xkey...)
	if wantProblem(t, "forbidden field", r, 400, "invalid-fields"); r.json(t)["allowed_fields"] == nil {
		t.Fatalf("invalid-fields without allowed_fields: %s", r.body)
	}

	// v2: English camelCase names, filter and fields in v2 names.
	m = want("v2 list", s.gwDo("GET", "/api/v2/chantiers?status=en_cours&fields=name,location", nil, xkey...), 200)
	if len(items(m)) == 0 {
		t.Fatal("v2 list: no en_cours chantier")
	}
	for _, it := range items(m) {
		if o, _ := it.(map[string]any); len(o) != 2 || o["name"] == nil || o["location"] == nil {
			t.Fatalf("v2 item %v, want name and location only", o)
		}
	}
	r = s.gwDo("POST", "/api/v2/chantiers", map[string]any{"name": "Gare", "location": "1 quai", "startDate": "2025-01-01"}, xkey...)
	if m = want("v2 create", r, 201); m["name"] != "Gare" || m["startDate"] != "2025-01-01" || m["nom"] != nil ||
		!strings.HasPrefix(r.header.Get("Location"), "/api/v2/chantiers/") {
		t.Fatalf("v2 create: Location %q, %v", r.header.Get("Location"), m)
	}
	if want("v2 openapi", s.gwDo("GET", "/api/v2/openapi.json", nil), 200)["components"] == nil {
		t.Fatal("v2 openapi without components")
	}

	// A batch: create, then read the created chantier's id and nom.
	m = want("batch", s.do("POST", s.gw.URL+"/api/v1/batch", json.RawMessage(
		`{"operations":[{"method":"POST","path":"/chantiers","body":{"nom":"Lot A"}},{"method":"GET","path":"/chantiers/{$0.body.id}?fields=id,nom"}]}`),
		with(xkey, "Content-Type", "application/json")...), 200)
	if rs, _ := m["results"].([]any); len(rs) != 2 || fmt.Sprint(rs[0].(map[string]any)["status"], rs[1].(map[string]any)["status"]) != "201 200" ||
		fmt.Sprint(rs[1].(map[string]any)["body"]) != fmt.Sprintf("map[id:%v nom:Lot A]", rs[0].(map[string]any)["body"].(map[string]any)["id"]) {
		t.Fatalf("batch: %v", m)
	}
	// GraphQL: a chantier with its team in one round trip; a query over
	// the complexity budget is refused before the upstream; GraphiQL.
	r = s.gwDo("POST", "/graphql", map[string]any{"query": "{ chantier(id: 1) { nom statut affectations(first: 3) { role_chantier user { nom } } } }"}, xkey...)
	m = want("graphql query", r, 200)
	if c, _ := m["data"].(map[string]any)["chantier"].(map[string]any); c == nil || c["nom"] == nil || m["errors"] != nil {
		t.Fatalf("graphql query: %s", r.body)
	}
	r = s.gwDo("POST", "/graphql", map[string]any{"query": "{ chantiers(first: 100) { nodes { pointages(first: 100) { heures } } } }"}, xkey...)
	if wantProblem(t, "graphql too complex", r, 400, "graphql-too-complex"); r.json(t)["cost"] != float64(10100) {
		t.Fatalf("graphql cost: %s", r.body)
	}
	if r = s.gwDo("GET", "/graphql", nil); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GraphiQL: %d %s", r.status, r.header.Get("Content-Type"))
	}

	// Idempotency-Key: the retry is the first answer; another body is 422.
	lotB := json.RawMessage(`{"nom":"Lot B"}`)
	idem := with(xkey, "Idempotency-Key", `"tour-lot-b"`, "Content-Type", "application/json")
	r1 := s.do("POST", s.gw.URL+"/api/v1/chantiers", lotB, idem...)
	r2 := s.do("POST", s.gw.URL+"/api/v1/chantiers", lotB, idem...)
	if r1.status != 201 || r2.status != 201 || r1.header.Get("Idempotent-Replayed") != "" ||
		r2.header.Get("Idempotent-Replayed") != "true" || string(r1.body) != string(r2.body) {
		t.Fatalf("idempotency: %d %q / %d %q", r1.status, r1.header.Get("Idempotent-Replayed"), r2.status, r2.header.Get("Idempotent-Replayed"))
	}
	wantProblem(t, "idempotency key reused", s.do("POST", s.gw.URL+"/api/v1/chantiers", json.RawMessage(`{"nom":"Lot C"}`), idem...),
		422, "idempotency-key-reused")
	// CORS: no origin listed by default, the preflight is refused at the gateway.
	wantProblem(t, "preflight", s.gwDo("OPTIONS", "/api/v1/chantiers", nil, "Origin", "http://localhost:5173",
		"Access-Control-Request-Method", "GET"), 403, "cors-preflight-refused")

	// OAuth2 metadata (RFC 8414).
	m = want("oauth metadata", s.gwDo("GET", "/.well-known/oauth-authorization-server", nil), 200)
	if ms, _ := m["code_challenge_methods_supported"].([]any); len(ms) != 1 || ms[0] != "S256" || m["token_endpoint"] == nil {
		t.Fatalf("oauth metadata: %v", m)
	}
	want("apps", s.gwDo("GET", "/api/auth/apps", nil, bearer(token)...), 200)

	// The seeded admin reads chantier 1's audit trail: newest first, the
	// If-Match writes above with before/after.
	admin := s.login("admin@hubchantier.local", "demo-password")
	var recs []any
	eventually(t, 30*time.Second, "audit records shipped", func() bool {
		m = want("audit-logs", s.gwDo("GET", "/api/v1/admin/audit-logs?resource_type=chantier&resource_id=1&limit=3", nil, bearer(admin)...), 200)
		recs = items(m)
		b, _ := json.Marshal(recs)
		return len(recs) == 3 && strings.Contains(string(b), `"status_code":412`)
	})
	if first, _ := recs[0].(map[string]any); first["resource_id"] != "1" || first["status_code"] != float64(http.StatusPreconditionFailed) {
		t.Fatalf("newest audit record: %v", first)
	}
	if b, _ := json.Marshal(recs); !strings.Contains(string(b), `"changes"`) {
		t.Fatalf("no write with before/after among %s", b)
	}

	// The developer console, through the gateway: /api-keys redirects to
	// it, its pages carry the strict CSP, and the seeded conducteur signs
	// in with the form (TestConsoleBrowserE2E drives the rest in Chromium).
	noFollow := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(s.gw.URL + "/api-keys"); err != nil || resp.StatusCode != http.StatusMovedPermanently ||
		resp.Header.Get("Location") != "/console/api-keys" {
		t.Fatalf("/api-keys: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	r = s.gwDo("GET", "/console/login", nil)
	if csp := r.header.Get("Content-Security-Policy"); r.status != 200 || !strings.Contains(csp, "frame-ancestors 'none'") ||
		strings.Contains(csp, "unsafe-inline") || !strings.Contains(string(r.body), ">Sign in</button>") {
		t.Fatalf("/console/login: %d CSP %q", r.status, csp)
	}
	if page := consoleSignIn(t, s, "conducteur@hubchantier.local", "demo-password"); !strings.Contains(page, "conducteur@hubchantier.local") {
		t.Fatalf("console sign-in landed on: %.300s", page)
	}

	// Roles: an ouvrier creates no chantier and sees only the chantiers
	// they are assigned to (none yet).
	s.cli("user", "create", "--email", "paul@example.com", "--password", "correct-horse-battery", "--role", "ouvrier", "--nom", "Paul")
	paul := s.login("paul@example.com", "correct-horse-battery")
	p := want("ouvrier creates a chantier", s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Dépôt", "adresse": "2 rue Basse"}, bearer(paul)...), http.StatusForbidden)
	if p["type"] != "urn:hubchantier:problem:insufficient-scope" {
		t.Fatalf("ouvrier POST chantier: %v", p)
	}
	if m := want("ouvrier lists chantiers", s.gwDo("GET", "/api/v1/chantiers", nil, bearer(paul)...), 200); len(items(m)) != 0 {
		t.Fatalf("an unassigned ouvrier sees %d chantiers", len(items(m)))
	}

	// Webhooks: one created by the admin (secret shown once), a signed
	// delivery received and verified by `hubchantier webhook listen` on
	// loopback, then the delivery log.
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hook := want("create webhook", s.gwDo("POST", "/api/v1/webhooks", map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d/hook", port),
		"events": []string{"chantier.*", "signalement.*"}, "description": "tour"}, bearer(admin)...), http.StatusCreated)
	secret, _ := hook["secret"].(string)
	bin, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	lp, err := harness.Start(t.TempDir(), "webhook-listen", filepath.Join(bin, "hubchantier"), []string{"HUB_WEBHOOK_SECRET=" + secret},
		"webhook", "listen", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--count", "1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lp.Stop)
	want("chantier for the webhook", s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Hangar"}, xkey...), http.StatusCreated)
	eventually(t, 60*time.Second, "the listener verified a delivery and exited", lp.Exited)
	if out := lp.Tail(2000); !strings.Contains(out, "verified chantier.created evt_") {
		t.Fatalf("webhook listen printed %q", out)
	}
	r = s.gwDo("GET", "/api/v1/webhooks/"+hook["id"].(string)+"/deliveries", nil, bearer(admin)...)
	if want("deliveries", r, 200); !strings.Contains(string(r.body), `"status":"succeeded"`) {
		t.Fatalf("delivery log: %s", r.body)
	}

	// Connectors: a Slack connector (disabled, so the tour posts nothing),
	// its webhook URL write-only, an empty sync log.
	conn := want("create connector", s.gwDo("POST", "/api/v1/admin/connectors", map[string]any{"type": "slack", "name": "Alertes", "enabled": false,
		"config": map[string]any{"webhook_url": "https://hooks.slack.com/services/T0/B0/tour"}}, bearer(admin)...), http.StatusCreated)
	if cfg, _ := conn["config"].(map[string]any); cfg["webhook_url"] != "[redacted]" || fmt.Sprint(conn["secrets_set"]) != "[webhook_url]" {
		t.Fatalf("connector answer: %v", conn)
	}
	r = s.gwDo("GET", "/api/v1/admin/connectors/"+conn["id"].(string)+"/sync-logs", nil, bearer(admin)...)
	if want("sync logs", r, 200); strings.TrimSpace(string(r.body)) != `{"data":[]}` {
		t.Fatalf("sync logs: %s", r.body)
	}
}
