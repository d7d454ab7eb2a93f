package hubcache

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestRFC9111RequestDirectives: §5.2.1 — max-age, max-stale, min-fresh,
// no-cache, no-store, only-if-cached (504 problem when nothing fits).
func TestRFC9111RequestDirectives(t *testing.T) {
	aged := versioned("Cache-Control", "max-age=600", "Age", "100")
	staleWithTag := etagged(`"e1"`, []string{"Cache-Control", "max-age=60", "Age", "70"}, "Cache-Control", "max-age=60")
	runRFC(t, []rfcCase{
		{"max-age older than the entry forwards", "/o/r1", aged, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("max-age=50", g.get(p, "Cache-Control", "max-age=50"), 200, "v2", "fwd=miss")
		}},
		{"max-age younger accepts", "/o/r2", aged, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("max-age=200", g.get(p, "Cache-Control", "max-age=200"), 200, "v1", "hit")
		}},
		{"min-fresh beyond the entry's freshness forwards", "/o/r3", aged, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("min-fresh=550", g.get(p, "Cache-Control", "min-fresh=550"), 200, "v2")
			g.wantHits("min-fresh", p, 2)
		}},
		{"min-fresh within accepts", "/o/r4", aged, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("min-fresh=100", g.get(p, "Cache-Control", "min-fresh=100"), 200, "v1", "hit")
		}},
		{"max-stale within accepts a stale entry", "/o/r5", staleWithTag, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("max-stale=30", g.get(p, "Cache-Control", "max-stale=30"), 200, "v1", "hit", "ttl=-1")
			g.wantHits("max-stale", p, 1)
		}},
		{"max-stale too small revalidates", "/o/r6", staleWithTag, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("max-stale=5", g.get(p, "Cache-Control", "max-stale=5"), 200, "v1", "fwd-status=304")
			g.wantHits("max-stale", p, 2)
		}},
		{"max-stale without a value", "/o/r7", staleWithTag, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("max-stale", g.get(p, "Cache-Control", "max-stale"), 200, "v1", "hit")
		}},
		{"max-stale never beats must-revalidate", "/o/r8", etagged(`"e1"`, []string{"Cache-Control", "max-age=60, must-revalidate", "Age", "70"}), func(g *rfcGateway, p string) {
			g.get(p)
			g.want("max-stale", g.get(p, "Cache-Control", "max-stale"), 200, "v1", "fwd-status=304")
		}},
		{"no-cache revalidates a fresh entry conditionally", "/o/r9", etagged(`"e1"`, []string{"Cache-Control", "max-age=600"}, "Cache-Control", "max-age=600"), func(g *rfcGateway, p string) {
			g.get(p)
			g.want("no-cache", g.get(p, "Cache-Control", "no-cache"), 200, "v1", "fwd=request", "fwd-status=304")
			if g.origin.lastHeader(p).Get("If-None-Match") != `"e1"` {
				g.t.Fatal("no-cache did not revalidate conditionally")
			}
		}},
		{"Pragma: no-cache without Cache-Control", "/o/r10", aged, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("pragma", g.get(p, "Pragma", "no-cache"), 200, "v2", "fwd=request")
		}},
		{"no-store neither uses nor stores", "/o/r11", aged, func(g *rfcGateway, p string) {
			g.want("no-store", g.get(p, "Cache-Control", "no-store"), 200, "v1", "fwd=request")
			g.want("next", g.get(p), 200, "v2", "fwd=miss", "stored")
		}},
		{"only-if-cached on a miss: 504 problem", "/o/r12", aged, func(g *rfcGateway, p string) {
			r := g.get(p, "Cache-Control", "only-if-cached")
			wantProblem(g, r, 504, "urn:hubchantier:problem:not-cached")
			g.wantHits("only-if-cached", p, 0)
		}},
		{"only-if-cached on a hit", "/o/r13", aged, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("only-if-cached", g.get(p, "Cache-Control", "only-if-cached"), 200, "v1", "hit")
		}},
		{"only-if-cached on a stale entry: 504", "/o/r14", staleWithTag, func(g *rfcGateway, p string) {
			g.get(p)
			wantProblem(g, g.get(p, "Cache-Control", "only-if-cached"), 504, "urn:hubchantier:problem:not-cached")
		}},
		{"only-if-cached with max-stale serves the stale entry", "/o/r15", staleWithTag, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("stale ok", g.get(p, "Cache-Control", "only-if-cached, max-stale=60"), 200, "v1", "hit")
		}},
	})
}

// wantProblem checks an RFC 9457 answer.
func wantProblem(g *rfcGateway, r rfcResponse, status int, typ string) {
	g.t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if r.status != status || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") ||
		json.Unmarshal([]byte(r.body), &p) != nil || p.Type != typ || p.Status != status {
		g.t.Fatalf("got %d %s %s, want %d problem %s", r.status, r.header.Get("Content-Type"), r.body, status, typ)
	}
}

// TestRFC5861: stale-while-revalidate (served stale, refreshed once in the
// background, coalesced) and stale-if-error.
func TestRFC5861(t *testing.T) {
	var gateMu sync.Mutex
	gates := map[string]chan struct{}{}
	gate := func(p string) chan struct{} {
		gateMu.Lock()
		defer gateMu.Unlock()
		if gates[p] == nil {
			gates[p] = make(chan struct{})
		}
		return gates[p]
	}
	swr := func(p string) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=600")
			if n == 1 {
				w.Header().Set("Age", "61")
			} else {
				<-gate(p) // the background refresh waits for the test
			}
			versioned()(w, r, n)
		}
	}
	failing := func(cc string) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if n > 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("Age", "61")
			w.Header().Set("ETag", `"e1"`)
			versioned()(w, r, n)
		}
	}
	runRFC(t, []rfcCase{
		{"stale-while-revalidate: stale now, one background refresh", "/o/w1", swr("/o/w1"), func(g *rfcGateway, p string) {
			gateMu.Lock()
			gates[p] = make(chan struct{}) // a new gate for each backend's run
			gateMu.Unlock()
			g.want("fill", g.get(p), 200, "v1", "stored")
			for i := range 5 {
				g.want("stale", g.get(p), 200, "v1", "hit", "detail=stale-while-revalidate")
				_ = i
			}
			g.waitUntil("the background refresh to reach the origin", func() bool { return g.origin.hits(p) == 2 })
			close(gate(p))
			g.waitUntil("the refreshed entry", func() bool { return g.get(p).body == "v2" })
			g.wantHits("one refresh for six requests", p, 2)
			g.want("refreshed", g.get(p), 200, "v2", "hit")
		}},
		{"stale-while-revalidate does not cover must-revalidate", "/o/w2", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=600, must-revalidate")
			w.Header().Set("ETag", `"e1"`)
			if n == 1 {
				w.Header().Set("Age", "61")
			}
			versioned()(w, r, n)
		}, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("validated", g.get(p), 200, "v2", "fwd=stale")
		}},
		{"stale-if-error serves the stale entry on a 503", "/o/w3", failing("max-age=60, stale-if-error=600"), func(g *rfcGateway, p string) {
			g.get(p)
			g.want("error", g.get(p), 200, "v1", "fwd=stale", "fwd-status=503")
		}},
		{"stale-if-error=0 passes the 503", "/o/w4", failing("max-age=60, stale-if-error=0"), func(g *rfcGateway, p string) {
			g.get(p)
			if r := g.get(p); r.status != 503 {
				g.t.Fatalf("got %d %q", r.status, r.cacheStatus())
			}
		}},
		{"must-revalidate passes the 503", "/o/w5", failing("max-age=60, must-revalidate"), func(g *rfcGateway, p string) {
			g.get(p)
			if r := g.get(p); r.status != 503 {
				g.t.Fatalf("got %d %q", r.status, r.cacheStatus())
			}
		}},
	})
}

// TestRFC9110Range: a Range request for a stored 200 is answered 206 from
// the cache (one range; several get the full 200).
func TestRFC9110Range(t *testing.T) {
	digits := body("0123456789", "Cache-Control", "max-age=300", "ETag", `"d1"`)
	ranged := func(spec, want string, status int, cr string, extra ...string) func(g *rfcGateway, p string) {
		return func(g *rfcGateway, p string) {
			g.get(p)
			r := g.get(p, append([]string{"Range", spec}, extra...)...)
			if r.status != status || (want != "" && r.body != want) || r.header.Get("Content-Range") != cr {
				g.t.Fatalf("Range %s: %d %q Content-Range %q, want %d %q %q", spec, r.status, r.body, r.header.Get("Content-Range"), status, want, cr)
			}
			if !strings.Contains(r.cacheStatus(), "hit") {
				g.t.Fatalf("Cache-Status %q", r.cacheStatus())
			}
			g.wantHits("range", p, 1)
		}
	}
	runRFC(t, []rfcCase{
		{"first-last", "/o/x1", digits, ranged("bytes=2-5", "2345", 206, "bytes 2-5/10")},
		{"open end", "/o/x2", digits, ranged("bytes=7-", "789", 206, "bytes 7-9/10")},
		{"suffix", "/o/x3", digits, ranged("bytes=-3", "789", 206, "bytes 7-9/10")},
		{"last past the end", "/o/x4", digits, ranged("bytes=8-100", "89", 206, "bytes 8-9/10")},
		{"unsatisfiable: 416 problem", "/o/x5", digits, func(g *rfcGateway, p string) {
			g.get(p)
			r := g.get(p, "Range", "bytes=20-")
			wantProblem(g, r, 416, "urn:hubchantier:problem:range-not-satisfiable")
			if r.header.Get("Content-Range") != "bytes */10" {
				g.t.Fatalf("Content-Range %q", r.header.Get("Content-Range"))
			}
		}},
		{"several ranges: the full 200", "/o/x6", digits, ranged("bytes=0-1,4-5", "0123456789", 200, "")},
		{"other unit: the full 200", "/o/x7", digits, ranged("items=0-1", "0123456789", 200, "")},
		{"If-Range matching", "/o/x8", digits, ranged("bytes=0-0", "0", 206, "bytes 0-0/10", "If-Range", `"d1"`)},
		{"If-Range not matching: the full 200", "/o/x9", digits, ranged("bytes=0-0", "0123456789", 200, "", "If-Range", `"other"`)},
		{"Range on a miss: filled whole, answered 206", "/o/x10", digits, func(g *rfcGateway, p string) {
			r := g.get(p, "Range", "bytes=1-2")
			if r.status != 206 || r.body != "12" || g.origin.lastHeader(p).Get("Range") != "" {
				g.t.Fatalf("miss: %d %q, origin Range %q", r.status, r.body, g.origin.lastHeader(p).Get("Range"))
			}
			g.want("full", g.get(p), 200, "0123456789", "hit")
		}},
	})
}

// TestRFC9111Vary: §4.1 — the varied request fields are normalised before
// keying.
func TestRFC9111Vary(t *testing.T) {
	same := func(field, a, b string) func(g *rfcGateway, p string) {
		return func(g *rfcGateway, p string) {
			g.want("first", g.get(p, field, a), 200, "v1", "stored")
			g.want("equivalent", g.get(p, field, b), 200, "v1", "hit")
		}
	}
	differ := func(field, a, b string) func(g *rfcGateway, p string) {
		return func(g *rfcGateway, p string) {
			g.get(p, field, a)
			g.want("different", g.get(p, field, b), 200, "v2", "fwd=miss")
		}
	}
	vary := func(field string) func(w http.ResponseWriter, r *http.Request, n int) {
		return versioned("Cache-Control", "max-age=300", "Vary", field)
	}
	runRFC(t, []rfcCase{
		{"Accept-Encoding order", "/o/y1", vary("Accept-Encoding"), same("Accept-Encoding", "gzip, br", "br,gzip")},
		{"Accept-Encoding case and spaces", "/o/y2", vary("Accept-Encoding"), same("Accept-Encoding", "gzip;q=1.0, br", "BR , GZIP ; q=1.0")},
		{"Accept-Language", "/o/y3", vary("accept-language"), same("Accept-Language", "en-US, fr;q=0.5", "fr; q=0.5,en-us")},
		{"Accept-Encoding different", "/o/y4", vary("Accept-Encoding"), differ("Accept-Encoding", "gzip", "br")},
		{"unknown field: whitespace only", "/o/y5", vary("X-Flavour"), same("X-Flavour", "a,b", "a , b")},
		{"unknown field: order kept", "/o/y6", vary("X-Flavour"), differ("X-Flavour", "a,b", "b,a")},
		{"unknown field: case kept", "/o/y7", vary("X-Flavour"), differ("X-Flavour", "A", "a")},
	})
}

// TestSurrogateControl: honoured on shared routes, never sent on.
func TestSurrogateControl(t *testing.T) {
	runRFC(t, []rfcCase{
		{"max-age wins over Cache-Control", "/o/z1", versioned("Cache-Control", "max-age=0", "Surrogate-Control", "max-age=120"), func(g *rfcGateway, p string) {
			a, b := g.twice(p, 1)
			g.wantTTL("hit", b, 120)
			for _, r := range []rfcResponse{a, b} {
				if r.header.Get("Surrogate-Control") != "" || r.header.Get("Cache-Control") != "max-age=0" {
					g.t.Fatalf("client header: %v", r.header)
				}
			}
		}},
		{"no-store", "/o/z2", versioned("Cache-Control", "max-age=60", "Surrogate-Control", "no-store"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 2)
			if b.header.Get("Surrogate-Control") != "" {
				g.t.Fatal("Surrogate-Control sent on")
			}
		}},
		{"addressed to another surrogate: ignored", "/o/z3", versioned("Cache-Control", "max-age=30", "Surrogate-Control", "max-age=600;edge1"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("hit", b, 30)
		}},
		{"addressed to hubgate", "/o/z4", versioned("Cache-Control", "max-age=30", "Surrogate-Control", "max-age=600;hubgate"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("hit", b, 600)
		}},
		{"not honoured on a per-principal route, still removed", "/p/z5", versioned("Cache-Control", "max-age=30", "Surrogate-Control", "max-age=600"), func(g *rfcGateway, p string) {
			_, b := g.twice(p, 1)
			g.wantTTL("hit", b, 30)
			if b.header.Get("Surrogate-Control") != "" {
				g.t.Fatal("Surrogate-Control sent on")
			}
		}},
		{"removed from uncached routes", "/elsewhere/z6", versioned("Surrogate-Control", "max-age=60"), func(g *rfcGateway, p string) {
			if r := g.get(p); r.header.Get("Surrogate-Control") != "" || r.body != "v1" {
				g.t.Fatalf("uncached route: %v %q", r.header, r.body)
			}
		}},
	})
}
