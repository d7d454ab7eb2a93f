package hubcache

import (
	"net/http"
	"testing"
	"time"
)

// TestRFC9111Storing: RFC 9111 §3 (which responses are stored), §4.2.2
// (heuristic freshness) and the route modes.
func TestRFC9111Storing(t *testing.T) {
	old := httpDate(time.Now().Add(-10 * 24 * time.Hour))
	runRFC(t, []rfcCase{
		{"origin mode: 200 without freshness not stored", "/o/s1", versioned(), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 2)
			g.want("second", b, 200, "v2", "fwd=miss", "detail=no-freshness")
		}},
		{"origin mode: max-age stored", "/o/s2", versioned("Cache-Control", "max-age=300"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.want("second", b, 200, "v1", "hit")
			g.wantTTL("second", b, 300)
		}},
		{"default mode: route TTL when the origin says nothing", "/d/s3", versioned(), func(g *rfcGateway, p string) {
			a, b := g.twice(p, 1)
			g.wantTTL("first", a, 60)
			g.want("second", b, 200, "v1", "hit")
		}},
		{"default mode: the origin's max-age wins over the TTL", "/d/s4", versioned("Cache-Control", "max-age=300"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("second", b, 300)
		}},
		{"default mode: max_ttl caps the origin", "/m/s5", versioned("Cache-Control", "max-age=3000"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("second", b, 120)
		}},
		{"override mode: the TTL caps the origin", "/v/s6", versioned("Cache-Control", "max-age=3000"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("second", b, 60)
		}},
		{"override mode: a shorter max-age wins", "/v/s7", versioned("Cache-Control", "max-age=30"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("second", b, 30)
		}},
		{"404 with max-age stored", "/o/s8", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(404)
			_, _ = w.Write([]byte("gone"))
		}, func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.want("second", b, 404, "gone", "hit")
		}},
		{"404 heuristic from Last-Modified (§4.2.2)", "/o/s9", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Last-Modified", old)
			w.WriteHeader(404)
		}, func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.want("second", b, 404, "", "hit")
			g.wantTTL("second", b, 86400)
		}},
		{"301 heuristic stored with its Location", "/o/s10", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Last-Modified", old)
			w.Header().Set("Location", "/o/elsewhere")
			w.WriteHeader(301)
		}, func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.want("second", b, 301, "", "hit")
			if b.header.Get("Location") != "/o/elsewhere" {
				g.t.Fatalf("Location %q", b.header.Get("Location"))
			}
		}},
		{"302 without freshness not stored", "/o/s11", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Last-Modified", old)
			w.Header().Set("Location", "/o/x")
			w.WriteHeader(302)
		}, func(g *rfcGateway, p string) { g.twice(p, 2) }},
		{"302 with max-age stored", "/o/s12", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Location", "/o/x")
			w.WriteHeader(302)
		}, func(g *rfcGateway, p string) { g.twice(p, 1) }},
		{"204 with max-age stored", "/o/s13", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(204)
		}, func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.want("second", b, 204, "", "hit")
		}},
		{"500 with max-age not stored", "/o/s14", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(500)
		}, func(g *rfcGateway, p string) { g.twice(p, 2) }},
		{"default mode: 404 without freshness not stored", "/d/s15", func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(404)
		}, func(g *rfcGateway, p string) { g.twice(p, 2) }},
		{"Set-Cookie not stored", "/d/s16", versioned("Set-Cookie", "a=b", "Cache-Control", "max-age=60"), func(g *rfcGateway, p string) {
			g.twice(p, 2)
		}},
		{"Vary: * not stored", "/d/s17", versioned("Vary", "*"), func(g *rfcGateway, p string) { g.twice(p, 2) }},
	})
}

// TestRFC9111Authorization: §3.5 on shared routes.
func TestRFC9111Authorization(t *testing.T) {
	auth := []string{"Authorization", "Bearer secret-token"}
	runRFC(t, []rfcCase{
		{"max-age only: neither stored nor served to others", "/o/a1", versioned("Cache-Control", "max-age=60"), func(g *rfcGateway, p string) {
			a := g.get(p, auth...)
			g.want("authorized", a, 200, "v1", "detail=authorization")
			b := g.get(p)
			g.want("anonymous", b, 200, "v2", "fwd=miss")
			g.wantHits("two callers", p, 2)
		}},
		{"default mode TTL: not stored either", "/d/a2", versioned(), func(g *rfcGateway, p string) {
			g.get(p, auth...)
			g.want("anonymous", g.get(p), 200, "v2", "fwd=miss")
		}},
		{"public", "/o/a3", versioned("Cache-Control", "public, max-age=60"), func(g *rfcGateway, p string) {
			g.get(p, auth...)
			g.want("anonymous", g.get(p), 200, "v1", "hit")
		}},
		{"s-maxage", "/o/a4", versioned("Cache-Control", "s-maxage=60"), func(g *rfcGateway, p string) {
			g.get(p, auth...)
			g.want("anonymous", g.get(p), 200, "v1", "hit")
		}},
		{"per-principal route without a verified caller: the key is shared, §3.5 applies", "/p/a6", versioned("Cache-Control", "max-age=60"), func(g *rfcGateway, p string) {
			g.want("authorized", g.get(p, auth...), 200, "v1", "detail=authorization")
			g.want("anonymous", g.get(p), 200, "v2", "fwd=miss")
		}},
		{"must-revalidate", "/o/a5", versioned("Cache-Control", "max-age=60, must-revalidate"), func(g *rfcGateway, p string) {
			g.get(p, auth...)
			g.want("anonymous", g.get(p), 200, "v1", "hit")
		}},
	})
}

// TestRFC9111Freshness: §4.2.1 (invalid freshness is stale), §5.2.2
// no-store / no-cache / private with and without field names, and §5.1
// Age.
func TestRFC9111Freshness(t *testing.T) {
	stale := func(cc string) func(g *rfcGateway, p string) {
		return func(g *rfcGateway, p string) {
			_, b := g.twice(p, 2)
			g.want("second", b, 200, "v2", "fwd=miss")
		}
	}
	future := httpDate(time.Now().Add(time.Hour))
	runRFC(t, []rfcCase{
		{"negative max-age", "/o/f1", versioned("Cache-Control", "max-age=-1"), stale("")},
		{"quoted max-age", "/o/f2", versioned("Cache-Control", `max-age="60"`), stale("")},
		{"decimal max-age", "/o/f3", versioned("Cache-Control", "max-age=1.5"), stale("")},
		{"conflicting max-age", "/o/f4", versioned("Cache-Control", "max-age=10, max-age=20"), stale("")},
		{"invalid max-age beats Expires", "/o/f5", versioned("Cache-Control", "max-age=x", "Expires", future), stale("")},
		{"invalid s-maxage beats max-age", "/o/f6", versioned("Cache-Control", "s-maxage=-5, max-age=60"), stale("")},
		{"invalid Expires", "/o/f7", versioned("Expires", "0"), stale("")},
		{"default mode: invalid max-age is stale, not the TTL", "/d/f8", versioned("Cache-Control", "max-age=-1"), stale("")},
		{"Expires in the future", "/o/f9", versioned("Expires", future), func(g *rfcGateway, p string) { g.twice(p, 1) }},
		{"no-store", "/d/f10", versioned("Cache-Control", "no-store, max-age=60"), stale("")},
		{"private", "/d/f11", versioned("Cache-Control", "private, max-age=60"), stale("")},
		{"private with a field name", "/o/f12", versioned("Cache-Control", `private="X-Secret", max-age=60`, "X-Secret", "s", "X-Other", "o"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.want("hit", b, 200, "v1", "hit")
			if b.header.Get("X-Secret") != "" || b.header.Get("X-Other") != "o" {
				g.t.Fatalf("hit header: %v", b.header)
			}
		}},
		{"no-cache with a field name", "/o/f13", versioned("Cache-Control", `no-cache="X-Secret", max-age=60`, "X-Secret", "s"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			if b.header.Get("X-Secret") != "" {
				g.t.Fatalf("hit kept X-Secret: %v", b.header)
			}
		}},
		{"no-cache without validator not stored", "/o/f14", versioned("Cache-Control", "no-cache, max-age=60"), stale("")},
		{"no-cache with validator: stored, validated on every use", "/o/f15", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", `"e1"`)
			if r.Header.Get("If-None-Match") == `"e1"` {
				w.WriteHeader(304)
				return
			}
			_, _ = w.Write([]byte("body"))
		}, func(g *rfcGateway, p string) {
			g.get(p)
			for i := range 2 {
				r := g.get(p)
				g.want("validated", r, 200, "body", "fwd=stale", "fwd-status=304")
				g.wantHits("validated", p, 2+i)
			}
		}},
		// §5.1 Age.
		{"valid Age counts", "/o/g1", versioned("Cache-Control", "max-age=60", "Age", "30"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("hit", b, 30)
		}},
		{"negative Age is stale", "/o/g2", versioned("Cache-Control", "max-age=60", "Age", "-1"), stale("")},
		{"decimal Age is stale", "/o/g3", versioned("Cache-Control", "max-age=60", "Age", "1.5"), stale("")},
		{"text Age is stale", "/o/g4", versioned("Cache-Control", "max-age=60", "Age", "abc"), stale("")},
		{"list Age: the first member", "/o/g5", versioned("Cache-Control", "max-age=60", "Age", "10, 20"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("hit", b, 50)
		}},
		{"several Age lines: the first", "/o/g6", versioned("Cache-Control", "max-age=60", "Age", "5", "Age", "40"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("hit", b, 55)
		}},
		{"invalid first Age line is stale", "/o/g7", versioned("Cache-Control", "max-age=60", "Age", "x", "Age", "5"), stale("")},
		{"Age past max-age is stale", "/o/g8", versioned("Cache-Control", "max-age=60", "Age", "61"), stale("")},
		{"invalid Age in default mode is stale, not the TTL", "/d/g9", versioned("Age", "-3"), stale("")},
	})
}
