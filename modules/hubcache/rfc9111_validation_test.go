package hubcache

import (
	"net/http"
	"testing"
	"time"
)

// etagged answers with an ETag: 304 when the request's If-None-Match
// names it, else "v<n>". The first answer carries extra (Age=61 makes
// it arrive stale), later ones fresh.
func etagged(etag string, first []string, later ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		hdr := later
		if n == 1 {
			hdr = first
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		versioned()(w, r, n)
	}
}

// TestRFC9111Validation: §4.3 — conditional revalidation of stale
// entries, the 304 refreshing the stored header (§4.3.4), the client's
// own conditionals answered from the cache with ETag precedence.
func TestRFC9111Validation(t *testing.T) {
	lm := httpDate(time.Now().Add(-time.Hour))
	runRFC(t, []rfcCase{
		{"stale entry revalidated with If-None-Match, 304 refreshes", "/o/v1",
			etagged(`"e1"`, []string{"Cache-Control", "max-age=60", "Age", "61", "X-Gen", "1"}, "Cache-Control", "max-age=60", "X-Gen", "2"),
			func(g *rfcGateway, p string) {
				g.want("first", g.get(p), 200, "v1", "fwd=miss", "stored")
				r := g.get(p)
				g.want("revalidated", r, 200, "v1", "fwd=stale", "fwd-status=304", "stored")
				if inm := g.origin.lastHeader(p).Get("If-None-Match"); inm != `"e1"` {
					g.t.Fatalf("origin saw If-None-Match %q", inm)
				}
				if r.header.Get("X-Gen") != "2" {
					g.t.Fatalf("304 did not refresh the stored header: X-Gen %q", r.header.Get("X-Gen"))
				}
				h := g.get(p)
				g.want("after refresh", h, 200, "v1", "hit")
				g.wantTTL("after refresh", h, 60)
				if h.header.Get("X-Gen") != "2" {
					g.t.Fatalf("refreshed header not stored: X-Gen %q", h.header.Get("X-Gen"))
				}
				g.wantHits("revalidation", p, 2)
			}},
		{"Last-Modified only: If-Modified-Since", "/o/v2", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Last-Modified", lm)
			w.Header().Set("Cache-Control", "max-age=60")
			if n == 1 {
				w.Header().Set("Age", "100")
			}
			if r.Header.Get("If-Modified-Since") == lm {
				w.WriteHeader(304)
				return
			}
			versioned()(w, r, n)
		}, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("revalidated", g.get(p), 200, "v1", "fwd-status=304")
		}},
		{"changed at the origin: the 200 replaces the entry", "/o/v3", func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"e`+string(rune('0'+n))+`"`)
			if n == 1 {
				w.Header().Set("Age", "61")
			}
			versioned()(w, r, n)
		}, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("changed", g.get(p), 200, "v2", "fwd=stale", "fwd-status=200", "stored")
			g.want("hit", g.get(p), 200, "v2", "hit")
		}},
		{"client If-None-Match answered 304 from the cache", "/o/v4", etagged(`"e1"`, []string{"Cache-Control", "max-age=60"}, "Cache-Control", "max-age=60"), func(g *rfcGateway, p string) {
			g.get(p)
			r := g.get(p, "If-None-Match", `"x", W/"e1"`)
			g.want("conditional", r, 304, "", "hit")
			if r.header.Get("ETag") != `"e1"` || r.header.Get("Content-Length") != "" {
				g.t.Fatalf("304 header: %v", r.header)
			}
			g.want("other tag", g.get(p, "If-None-Match", `"other"`), 200, "v1", "hit")
			g.wantHits("conditionals", p, 1)
		}},
		{"ETag precedence over If-Modified-Since", "/o/v5", versioned("Cache-Control", "max-age=60", "ETag", `"e1"`, "Last-Modified", lm), func(g *rfcGateway, p string) {
			g.get(p)
			later := httpDate(time.Now())
			g.want("IMS alone", g.get(p, "If-Modified-Since", later), 304, "", "hit")
			g.want("INM mismatch wins", g.get(p, "If-None-Match", `"nope"`, "If-Modified-Since", later), 200, "v1", "hit")
			g.want("IMS before", g.get(p, "If-Modified-Since", httpDate(time.Now().Add(-2*time.Hour))), 200, "v1")
		}},
		{"client conditional on a miss: the cache fills, then answers 304", "/o/v6", etagged(`"e1"`, []string{"Cache-Control", "max-age=60"}), func(g *rfcGateway, p string) {
			r := g.get(p, "If-None-Match", `"e1"`)
			g.want("miss", r, 304, "", "stored")
			if g.origin.lastHeader(p).Get("If-None-Match") != "" {
				g.t.Fatal("the client's validator reached the origin on a fill")
			}
			g.want("full", g.get(p), 200, "v1", "hit")
		}},
	})
}

// TestRFC9111Invalidation: §4.4 — any unsafe method with a non-error
// answer invalidates the target URI and the same-host Location and
// Content-Location.
func TestRFC9111Invalidation(t *testing.T) {
	cached := versioned("Cache-Control", "max-age=300")
	write := func(status int, headers ...string) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if r.Method == http.MethodGet {
				cached(w, r, n)
				return
			}
			for i := 0; i+1 < len(headers); i += 2 {
				w.Header().Set(headers[i], headers[i+1])
			}
			w.WriteHeader(status)
		}
	}
	invalidated := func(method string, wantInvalid bool, other string) func(g *rfcGateway, p string) {
		return func(g *rfcGateway, p string) {
			target := p
			if other != "" {
				target = other
			}
			g.get(target)
			g.want("cached", g.get(target), 200, "v1", "hit")
			g.do(method, p)
			r := g.get(target)
			if wantInvalid {
				g.want("after "+method, r, 200, "v2", "fwd=miss")
			} else {
				g.want("after "+method, r, 200, "v1", "hit")
			}
		}
	}
	absolute := func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodGet {
			cached(w, r, n)
			return
		}
		w.Header().Set("Location", "http://"+r.Host+"/o/i14-item")
		w.WriteHeader(201)
	}
	cases := []rfcCase{}
	// The Location / Content-Location targets are cached paths of their own.
	for _, other := range []string{"/o/i9-item", "/o/i10/i10-item", "/o/i11-rep", "/o/i12-item", "/o/i14-item", "/o/agg"} {
		cases = append(cases, rfcCase{"target " + other + " cacheable", other, cached, func(g *rfcGateway, p string) {
			g.get(p)
			g.want("target", g.get(p), 200, "", "hit")
		}})
	}
	runRFC(t, append(cases, []rfcCase{
		{"POST", "/o/i1", write(200), invalidated("POST", true, "")},
		{"DELETE", "/o/i2", write(204), invalidated("DELETE", true, "")},
		{"an unknown method is unsafe", "/o/i3", write(200), invalidated("FROB", true, "")},
		{"PROPPATCH", "/o/i4", write(207), invalidated("PROPPATCH", true, "")},
		{"a 303 is not an error", "/o/i5", write(303, "Location", "/o/elsewhere"), invalidated("POST", true, "")},
		{"a 4xx does not invalidate", "/o/i6", write(409), invalidated("PUT", false, "")},
		{"a 5xx does not invalidate", "/o/i7", write(500), invalidated("PATCH", false, "")},
		{"OPTIONS is safe", "/o/i8", write(200), invalidated("OPTIONS", false, "")},
		{"Location on the same host", "/o/i9", write(201, "Location", "/o/i9-item"), invalidated("POST", true, "/o/i9-item")},
		{"relative Location", "/o/i10/x", write(201, "Location", "i10-item"), invalidated("POST", true, "/o/i10/i10-item")},
		{"Content-Location", "/o/i11", write(200, "Content-Location", "/o/i11-rep"), invalidated("PUT", true, "/o/i11-rep")},
		{"Location on another host is left alone", "/o/i12", write(201, "Location", "http://other.example/o/i12-item"), invalidated("POST", false, "/o/i12-item")},
		{"invalidate rule of the route", "/w/i13", write(200), invalidated("POST", true, "/o/agg")},
		{"absolute Location on the same host", "/o/i14", absolute, invalidated("POST", true, "/o/i14-item")},
	}...))
}
