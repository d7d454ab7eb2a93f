package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hubchantier/hubgate/integration/harness"
)

// etagStack is a stack with an admin API key that may read and write.
func etagStack(t *testing.T, b backend) (*stack, []string) {
	t.Helper()
	s := newStack(t, b)
	s.createUser("etag@example.com", "admin")
	s.cli("seed")
	jwt := s.login("etag@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "etag", "scopes": []string{"read", "write"}})
	return s, bearer(key)
}

// with returns the auth headers followed by more header pairs.
func with(auth []string, more ...string) []string {
	return append(append([]string{}, auth...), more...)
}

// wantProblem fails unless r is a problem+json of the given status and type slug.
func wantProblem(t *testing.T, what string, r response, status int, slug string) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s: want %d problem, got %d %s %s", what, status, r.status, r.header.Get("Content-Type"), r.body)
	}
	if slug != "" && r.json(t)["type"] != "urn:hubchantier:problem:"+slug {
		t.Fatalf("%s: type %v, want %s", what, r.json(t)["type"], slug)
	}
}

// TestETag walks the conditional-request path through the real binaries:
// tags on GET, 304, HEAD, If-Match on writes (200, stale 412, 404 and 401
// winning over 412), If-None-Match: * on PUT.
func TestETag(t *testing.T) {
	s, auth := etagStack(t, backends[0])
	const one = "/api/v1/chantiers/1"

	r := s.gwDo("GET", one, nil, auth...)
	tag := r.header.Get("ETag")
	if r.status != 200 || tag == "" {
		t.Fatalf("GET: %d, ETag %q: %s", r.status, tag, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc == "" {
		t.Fatal("GET: no Cache-Control")
	}

	// If-None-Match with the tag: 304 with the tag and Cache-Control, no body.
	for _, method := range []string{"GET", "HEAD"} {
		nm := s.gwDo(method, one, nil, with(auth, "If-None-Match", `"nope", `+tag)...)
		if nm.status != 304 || nm.header.Get("ETag") != tag || nm.header.Get("Cache-Control") == "" || len(nm.body) != 0 {
			t.Fatalf("%s If-None-Match: %d ETag %q Cache-Control %q body %q", method, nm.status, nm.header.Get("ETag"), nm.header.Get("Cache-Control"), nm.body)
		}
	}
	// HEAD is GET without a body, same tag.
	if h := s.gwDo("HEAD", one, nil, auth...); h.status != 200 || h.header.Get("ETag") != tag || len(h.body) != 0 {
		t.Fatalf("HEAD: %d ETag %q (GET %q) body %q", h.status, h.header.Get("ETag"), tag, h.body)
	}
	// A list gets a computed tag, and its 304.
	l := s.gwDo("GET", "/api/v1/chantiers?limit=3", nil, auth...)
	if l.status != 200 || l.header.Get("ETag") == "" {
		t.Fatalf("list: %d ETag %q", l.status, l.header.Get("ETag"))
	}
	if nm := s.gwDo("GET", "/api/v1/chantiers?limit=3", nil, with(auth, "If-None-Match", l.header.Get("ETag"))...); nm.status != 304 {
		t.Fatalf("list If-None-Match: %d", nm.status)
	}

	// PATCH with the tag: 200 and a new tag; the stale tag again: 412.
	p := s.gwDo("PATCH", one, map[string]any{"client": "ETag SA"}, with(auth, "If-Match", tag)...)
	if p.status != 200 || p.header.Get("ETag") == "" || p.header.Get("ETag") == tag {
		t.Fatalf("PATCH If-Match: %d ETag %q: %s", p.status, p.header.Get("ETag"), p.body)
	}
	wantProblem(t, "stale PATCH", s.gwDo("PATCH", one, map[string]any{"client": "Lost"}, with(auth, "If-Match", tag)...), 412, "precondition-failed")
	// The GET now has a new tag, so the old one no longer gives a 304.
	if g := s.gwDo("GET", one, nil, with(auth, "If-None-Match", tag)...); g.status != 200 || g.header.Get("ETag") == tag {
		t.Fatalf("GET after write with old tag: %d ETag %q", g.status, g.header.Get("ETag"))
	}

	// 404 and 401 win over a precondition that cannot match.
	for _, im := range []string{`"v1"`, `"garbage"`, `W/"v1"`} {
		wantProblem(t, "PATCH missing id "+im, s.gwDo("PATCH", "/api/v1/chantiers/999999", map[string]any{"client": "x"}, with(auth, "If-Match", im)...), 404, "")
	}
	wantProblem(t, "no credentials", s.gwDo("PATCH", one, map[string]any{"client": "x"}, "If-Match", `"v1"`), 401, "")

	// If-None-Match: * on PUT of an existing row: 412; of a missing id: 404.
	wantProblem(t, "PUT If-None-Match *", s.gwDo("PUT", one, map[string]any{"nom": "Remplacé"}, with(auth, "If-None-Match", "*")...), 412, "precondition-failed")
	wantProblem(t, "PUT If-None-Match * missing", s.gwDo("PUT", "/api/v1/chantiers/999999", map[string]any{"nom": "X"}, with(auth, "If-None-Match", "*")...), 404, "")
	// DELETE with the current tag works, with a stale one does not.
	wantProblem(t, "DELETE stale", s.gwDo("DELETE", one, nil, with(auth, "If-Match", tag)...), 412, "precondition-failed")
	c := s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "À supprimer"}, auth...)
	if c.status != 201 || c.header.Get("ETag") == "" {
		t.Fatalf("POST: %d ETag %q", c.status, c.header.Get("ETag"))
	}
	loc := c.header.Get("Location")
	if d := s.gwDo("DELETE", loc, nil, with(auth, "If-Match", c.header.Get("ETag"))...); d.status != 204 {
		t.Fatalf("DELETE with current tag: %d %s", d.status, d.body)
	}
}

// TestETagConcurrentWrites fires 50 pairs of PATCHes through the gateway,
// each pair on its own row with the same If-Match: exactly one of each
// pair must win, on every storage × store combination.
func TestETagConcurrentWrites(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, auth := etagStack(t, b)
			const pairs = 50
			paths := make([]string, pairs)
			tags := make([]string, pairs)
			for i := range paths {
				c := s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": fmt.Sprint("Paire ", i)}, auth...)
				if c.status != 201 {
					t.Fatalf("create: %d %s", c.status, c.body)
				}
				paths[i] = c.header.Get("Location")
				g := s.gwDo("GET", paths[i], nil, auth...)
				if tags[i] = g.header.Get("ETag"); g.status != 200 || tags[i] == "" {
					t.Fatalf("GET %s: %d ETag %q", paths[i], g.status, tags[i])
				}
			}
			codes := make([][2]int, pairs)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range paths {
				for j := range 2 {
					wg.Go(func() {
						<-start
						r := s.gwDo("PATCH", paths[i], map[string]any{"client": fmt.Sprint("writer ", j)}, with(auth, "If-Match", tags[i])...)
						codes[i][j] = r.status
					})
				}
			}
			close(start)
			wg.Wait()
			for i, c := range codes {
				if c != [2]int{200, 412} && c != [2]int{412, 200} {
					t.Errorf("pair %d: statuses %v, want one 200 and one 412", i, c)
				}
			}
		})
	}
}

// TestETagAcrossRepresentations checks that an If-Match taken from a v2 GET
// or from a ?fields= GET is honoured on the matching v1 write.
func TestETagAcrossRepresentations(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	needModules(t, "http.handlers.hub_version", "http.handlers.hub_fields")
	s, auth := etagStack(t, backends[0])
	const v1 = "/api/v1/chantiers/2"

	for _, src := range []string{"/api/v2/chantiers/2", v1 + "?fields=nom", v1 + "?fields=id,nom,version"} {
		g := s.gwDo("GET", src, nil, auth...)
		tag := g.header.Get("ETag")
		if g.status != 200 || tag == "" {
			t.Fatalf("GET %s: %d ETag %q: %s", src, g.status, tag, g.body)
		}
		t.Logf("GET %s → ETag %s", src, tag)
		// The tag is that representation's own: a 304 there, not on v1.
		if nm := s.gwDo("GET", src, nil, with(auth, "If-None-Match", tag)...); nm.status != 304 {
			t.Fatalf("GET %s If-None-Match: %d", src, nm.status)
		}
		if nm := s.gwDo("GET", v1, nil, with(auth, "If-None-Match", tag)...); nm.status != 200 {
			t.Fatalf("GET v1 with the tag of %s: %d, want 200", src, nm.status)
		}
		p := s.gwDo("PATCH", v1, map[string]any{"client": "via " + src}, with(auth, "If-Match", tag)...)
		if p.status != 200 {
			t.Fatalf("PATCH v1 with the tag of %s (%s): %d %s", src, tag, p.status, p.body)
		}
		wantProblem(t, "stale tag of "+src, s.gwDo("PATCH", v1, map[string]any{"client": "lost"}, with(auth, "If-Match", tag)...), 412, "precondition-failed")
	}
}

// needModules skips the test when the gateway binary lacks one of the
// modules (they are built by other issues), naming them.
func needModules(t *testing.T, ids ...string) {
	t.Helper()
	dir, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(dir, "hubgate"), "list-modules").Output()
	if err != nil {
		t.Fatalf("hubgate list-modules: %v", err)
	}
	for _, id := range ids {
		if !strings.Contains(string(out), id+"\n") {
			t.Skipf("skipped: the gateway binary has no %s module yet (cross-representation If-Match needs hub_version and hub_fields)", id)
		}
	}
}

// etagEncodeCaddyfile puts encode outside hub_etag, as docs/ARCHITECTURE.md orders
// them: encode appends "-gzip" to strong tags of compressed answers.
const etagEncodeCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
	}
}
http://{$HUB_LISTEN} {
	hub_auth {
		public GET /healthz
		public POST /api/auth/login
		authenticated * /api/auth/*
	}
	encode gzip {
		minimum_length 1
	}
	hub_etag
	reverse_proxy {$HUB_UPSTREAM} {
		header_up Accept-Encoding identity
		header_up X-Hub-Identity {hub.assertion}
	}
}
`

// TestETagThroughEncode checks that the "-gzip" tags encode sends back are
// honoured: If-None-Match (encode strips the suffix) and If-Match (hub_etag
// does).
func TestETagThroughEncode(t *testing.T) {
	s, auth := etagStack(t, backends[0])
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(etagEncodeCaddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.up.Addr, Secret: s.secret, Dir: t.TempDir(), Caddyfile: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	gz := with(auth, "Accept-Encoding", "gzip")
	for _, path := range []string{"/api/v1/chantiers/3", "/api/v1/chantiers?limit=5"} {
		r := s.do("GET", gw.URL+path, nil, gz...)
		tag := r.header.Get("ETag")
		if r.status != 200 || r.header.Get("Content-Encoding") != "gzip" || !strings.HasSuffix(tag, `-gzip"`) {
			t.Fatalf("GET %s: %d, Content-Encoding %q, ETag %q", path, r.status, r.header.Get("Content-Encoding"), tag)
		}
		// Caddy's encode does not suffix the tag of a 304 (it only does so
		// when it compresses a body), so the 304 carries the identity tag.
		identity := strings.TrimSuffix(tag, `-gzip"`) + `"`
		if nm := s.do("GET", gw.URL+path, nil, with(gz, "If-None-Match", tag)...); nm.status != 304 || (nm.header.Get("ETag") != tag && nm.header.Get("ETag") != identity) {
			t.Fatalf("GET %s If-None-Match %s: %d ETag %q", path, tag, nm.status, nm.header.Get("ETag"))
		}
	}
	tag := s.do("GET", gw.URL+"/api/v1/chantiers/3", nil, gz...).header.Get("ETag")
	if p := s.do("PATCH", gw.URL+"/api/v1/chantiers/3", map[string]any{"client": "gz"}, with(gz, "If-Match", tag)...); p.status != 200 {
		t.Fatalf("PATCH If-Match %s: %d %s", tag, p.status, p.body)
	}
	wantProblem(t, "stale gzip tag", s.do("PATCH", gw.URL+"/api/v1/chantiers/3", map[string]any{"client": "lost"}, with(gz, "If-Match", tag)...), 412, "")
}
