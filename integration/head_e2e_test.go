package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestHeadLikeGet checks RFC 9110 §9.3.2 on the transformed answers: a HEAD
// on /api/v2 (renamed body) or with ?fields= (filtered body) carries the
// headers of the matching GET — same status, Content-Length of the body a
// GET gets, ETag, Content-Type, Link, Deprecation — and no body. It runs
// with the default Caddyfile (hub_etag turns the HEAD into an inner GET)
// and with the same file minus hub_etag (hub_fields / hub_version alone).
func TestHeadLikeGet(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("admin@example.com", "admin")
	s.cli("seed")
	jwt := s.login("admin@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "head", "scopes": []string{"read"}})
	auth := bearer(key)

	def, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	noETag := strings.Replace(string(def), "\n\t\thub_etag\n", "\n", 1)
	if noETag == string(def) {
		t.Fatal("the default Caddyfile has no hub_etag line to remove")
	}
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(noETag), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.up.Addr, Secret: s.secret, Dir: t.TempDir(), Caddyfile: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway (no hub_etag) log tail:\n%s", gw.Tail(3000))
		}
	})

	chains := []struct {
		name string
		base string
		etag bool // hub_etag in the chain: the GET carries a tag
	}{
		{"default chain", s.gw.URL, true},
		{"without hub_etag", gw.URL, false},
	}
	paths := []struct {
		path      string
		transform string // a marker of the transformed GET body
	}{
		{"/api/v2/chantiers/1", `"startDate"`},
		{"/api/v1/chantiers?fields=id,nom", `"nom"`},
		{"/api/v2/chantiers?limit=3&fields=id,startDate", `"startDate"`},
		{"/api/v2/chantiers/999999", `"type"`}, // a problem, renamed too
	}
	compared := []string{"Content-Length", "ETag", "Content-Type", "Link", "Deprecation", "Sunset", "Location", "Cache-Control"}
	for _, c := range chains {
		for _, p := range paths {
			t.Run(c.name+" "+p.path, func(t *testing.T) {
				get := s.do("GET", c.base+p.path, nil, auth...)
				if get.status != 200 && get.status != 404 {
					t.Fatalf("GET: %d %s", get.status, get.body)
				}
				if !strings.Contains(string(get.body), p.transform) || strings.Contains(string(get.body), `"date_debut"`) {
					t.Fatalf("GET body not transformed: %s", get.body)
				}
				if c.etag && get.status == 200 && get.header.Get("ETag") == "" {
					t.Fatalf("GET without ETag: %v", get.header)
				}
				head := s.do("HEAD", c.base+p.path, nil, auth...)
				if head.status != get.status {
					t.Fatalf("HEAD status %d, GET %d", head.status, get.status)
				}
				if len(head.body) != 0 {
					t.Fatalf("HEAD has a body: %q", head.body)
				}
				for _, k := range compared {
					if g, h := strings.Join(get.header.Values(k), ", "), strings.Join(head.header.Values(k), ", "); g != h {
						t.Errorf("%s: HEAD %q, GET %q", k, h, g)
					}
				}
				if cl := get.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(get.body)) {
					t.Errorf("GET Content-Length %s for %d bytes", cl, len(get.body))
				}
			})
		}
	}
}
