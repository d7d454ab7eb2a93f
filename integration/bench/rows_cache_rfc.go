package main

import (
	"crypto/sha256"
	"encoding/hex"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// The "cache-rfc" rows measure hub_cache as an RFC 9111 shared cache in
// front of an origin that sends its own freshness and validators: a hit
// (the origin says max-age=3600) and a revalidation on every request (the
// origin says max-age=0 with an ETag: each request is a conditional GET
// answered 304, which refreshes the stored entry), against bare
// reverse_proxy to the same origin. The origin is this binary re-executed
// (serveRFCOrigin), a process of its own like the static origin.

// serveRFCOriginCmd turns the benchmark binary into the RFC origin:
// bench serve-rfc-origin <addr>.
const serveRFCOriginCmd = "serve-rfc-origin"

// rfcBody is the origin's representation: about 1 KiB of JSON.
var rfcBody = []byte(`{"items":[` + strings.TrimSuffix(strings.Repeat(`{"id":12345,"nom":"Chantier de la gare","statut":"en_cours"},`, 16), ",") + `]}`)

// serveRFCOrigin answers every GET with rfcBody and a strong ETag: under
// /hit/ fresh for an hour, elsewhere stale at once (max-age=0); a matching
// If-None-Match gets a 304.
func serveRFCOrigin(addr string) {
	sum := sha256.Sum256(rfcBody)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	length := strconv.Itoa(len(rfcBody))
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Etag"] = []string{etag}
		if strings.HasPrefix(r.URL.Path, "/hit/") {
			h["Cache-Control"] = []string{"public, max-age=3600"}
		} else {
			h["Cache-Control"] = []string{"public, max-age=0"}
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(rfcBody)
	})}
	log.Fatal(srv.ListenAndServe())
}

var rfcOrigin struct {
	once sync.Once
	addr string
	err  error
}

// startRFCOrigin starts the RFC origin once for the group's rows.
func startRFCOrigin(e *Env) (string, error) {
	rfcOrigin.once.Do(func() {
		self, err := os.Executable()
		if err != nil {
			rfcOrigin.err = err
			return
		}
		port, err := harness.FreePort()
		if err != nil {
			rfcOrigin.err = err
			return
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err := harness.Start(e.Dir, "rfc-origin", self, nil, serveRFCOriginCmd, addr)
		if err != nil {
			rfcOrigin.err = err
			return
		}
		e.stops = append(e.stops, p.Stop)
		if err := harness.WaitHTTP("http://"+addr+"/hit/", 10*time.Second, p); err != nil {
			rfcOrigin.err = err
			return
		}
		e.track("http://"+addr, p.Cmd.Process.Pid)
		rfcOrigin.addr = addr
	})
	return rfcOrigin.addr, rfcOrigin.err
}

// rfcCacheCaddyfile is hub_cache alone (an RFC 9111 shared cache: the
// origin's freshness only) before reverse_proxy to the RFC origin.
const rfcCacheCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
		store redis {$HUB_REDIS_URL:} {
			prefix {$HUB_BENCH_PREFIX:bench:}
		}
	}
}
http://{$HUB_LISTEN} {
	hub_cache {
		route /* origin shared
	}
	reverse_proxy {$HUB_ORIGIN}
}
`

func init() {
	noHeaders := func() map[string]string { return nil }
	rfcRow := func(name string, order int, baseline bool, caddyfile, path string, extraEnv ...string) {
		register(Row{Name: name, Group: "cache-rfc", Order: order, Baseline: baseline,
			Setup: func(e *Env) (string, func() map[string]string, func(), error) {
				addr, err := startRFCOrigin(e)
				if err != nil {
					return "", nil, nil, err
				}
				env := append([]string{"HUB_ORIGIN=" + addr}, extraEnv...)
				for i, kv := range env {
					if kv == "HUB_REDIS_URL=" {
						env[i] = kv + e.RedisURL
					}
				}
				g, err := e.Gateway(caddyfile, "", env...)
				if err != nil {
					return "", nil, nil, err
				}
				return g.URL + path, noHeaders, g.Stop, nil
			}})
	}
	rfcRow("cache-rfc: bare reverse_proxy to the RFC origin", 300, true, originBare, "/hit/chantiers")
	rfcRow("cache-rfc: hub_cache hit (origin mode, memory)", 301, false, rfcCacheCaddyfile, "/hit/chantiers")
	rfcRow("cache-rfc: hub_cache revalidation, 304 refresh (memory)", 302, false, rfcCacheCaddyfile, "/reval/chantiers")
	if os.Getenv("HUB_TEST_REDIS_URL") == "" {
		return
	}
	prefix := "HUB_BENCH_PREFIX=bench:cache-rfc:" + time.Now().Format("150405.000000") + ":"
	rfcRow("cache-rfc: hub_cache hit (origin mode, Redis)", 303, false, rfcCacheCaddyfile, "/hit/chantiers", "HUB_REDIS_URL=", prefix)
	rfcRow("cache-rfc: hub_cache revalidation, 304 refresh (Redis)", 304, false, rfcCacheCaddyfile, "/reval/chantiers", "HUB_REDIS_URL=", prefix)
}
