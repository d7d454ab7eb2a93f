package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// The "origin" rows measure the gateway's own cost: behind it, instead of
// the Hub Chantier upstream (whose SQLite queries and JSON encoding cost
// several times what a proxy does), a static origin answers every request
// with the same bytes the upstream gives for originPath. Identity
// introspection, the audit store and the revocation feed still go to the
// real upstream (the hub app's `upstream`); only the proxied requests go to
// the origin. Every row sends the same API key.
//
// The origin is this benchmark's own binary re-executed as a minimal Go
// file server (serveStatic), a separate process so that it can be pinned
// and its CPU counted apart from the load generator.
const originPath = "/api/v1/chantiers/1"

// serveStaticCmd is the first argument that turns the benchmark binary into
// the static origin: bench serve-static <addr> <file>.
const serveStaticCmd = "serve-static"

// serveStatic answers every request with the file's bytes as JSON.
func serveStatic(addr, file string) {
	body, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})}
	log.Fatal(srv.ListenAndServe())
}

var origin struct {
	once sync.Once
	addr string
	body []byte
	err  error
}

// startOrigin fetches originPath from the upstream once, and starts the
// static origin serving those bytes.
func startOrigin(e *Env) (string, error) {
	origin.once.Do(func() {
		origin.addr, origin.body, origin.err = launchOrigin(e)
	})
	return origin.addr, origin.err
}

func launchOrigin(e *Env) (string, []byte, error) {
	req, _ := http.NewRequest("GET", "http://"+e.Upstream.Addr+originPath, nil)
	for k, v := range e.Signed() {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		return "", nil, fmt.Errorf("fetch %s for the origin: %d %v", originPath, resp.StatusCode, err)
	}
	file := filepath.Join(e.Dir, "origin.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		return "", nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	port, err := harness.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := harness.Start(e.Dir, "origin", self, nil, serveStaticCmd, addr, file)
	if err != nil {
		return "", nil, err
	}
	e.stops = append(e.stops, p.Stop)
	if err := harness.WaitHTTP("http://"+addr+"/", 10*time.Second, p); err != nil {
		return "", nil, err
	}
	e.track("http://"+addr, p.Cmd.Process.Pid)
	return addr, body, nil
}

// shippedOnOrigin is the repository's Caddyfile with the proxy retargeted
// at the origin ({$HUB_ORIGIN}), minus the directives named in drop.
func shippedOnOrigin(drop ...*regexp.Regexp) (string, error) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile"))
	if err != nil {
		return "", err
	}
	s := string(b)
	const proxy = "hub_reverse_proxy {$HUB_UPSTREAM:127.0.0.1:9000}"
	if !strings.Contains(s, proxy) {
		return "", fmt.Errorf("the default Caddyfile has no %q line", proxy)
	}
	s = strings.Replace(s, proxy, "hub_reverse_proxy {$HUB_ORIGIN}", 1)
	for _, re := range drop {
		if !re.MatchString(s) {
			return "", fmt.Errorf("the default Caddyfile has no block matching %s", re)
		}
		s = re.ReplaceAllString(s, "")
	}
	return s, nil
}

// cacheBlock matches the hub_cache directive (and its block) of the default
// Caddyfile.
var cacheBlock = regexp.MustCompile(`(?m)^\t\thub_cache(?: \{\n(?:\t\t\t.*\n)*\t\t\})?\n`)

// originBare is bare Caddy reverse_proxy to the origin.
const originBare = `{
	admin {$HUB_ADMIN_LISTEN}
}
http://{$HUB_LISTEN} {
	reverse_proxy {$HUB_ORIGIN}
}
`

// originAuth is hub_auth alone in front of the origin.
const originAuth = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
	}
}
http://{$HUB_LISTEN} {
	hub_auth {
		public GET /healthz
	}
	reverse_proxy {$HUB_ORIGIN} {
		header_up Accept-Encoding identity
	}
}
`

func init() {
	// originRow registers a row whose gateway runs caddyfile (made when the
	// row is set up) with HUB_ORIGIN set.
	originRow := func(name string, order int, baseline bool, caddyfile func(e *Env) (string, error), extraEnv ...func(e *Env) string) {
		register(Row{Name: name, Group: "origin", Order: order, Baseline: baseline,
			Setup: func(e *Env) (string, func() map[string]string, func(), error) {
				addr, err := startOrigin(e)
				if err != nil {
					return "", nil, nil, err
				}
				cf, err := caddyfile(e)
				if err != nil {
					return "", nil, nil, err
				}
				env := []string{"HUB_ORIGIN=" + addr}
				for _, f := range extraEnv {
					env = append(env, f(e))
				}
				g, err := e.Gateway(cf, "", env...)
				if err != nil {
					return "", nil, nil, err
				}
				return g.URL + originPath, e.KeyHeaders, g.Stop, nil
			}})
	}
	fixed := func(s string) func(*Env) (string, error) { return func(*Env) (string, error) { return s, nil } }
	shipped := func(drop ...*regexp.Regexp) func(*Env) (string, error) {
		return func(*Env) (string, error) { return shippedOnOrigin(drop...) }
	}

	register(Row{Name: "origin: static origin direct", Group: "origin", Order: 200,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			addr, err := startOrigin(e)
			if err != nil {
				return "", nil, nil, err
			}
			return "http://" + addr + originPath, e.KeyHeaders, nil, nil
		}})
	originRow("origin: bare caddy reverse_proxy", 201, true, fixed(originBare))
	originRow("origin: caddy respond (ceiling for a cache hit)", 202, false, func(e *Env) (string, error) {
		if _, err := startOrigin(e); err != nil {
			return "", err
		}
		if strings.Contains(string(origin.body), "`") {
			return "", fmt.Errorf("the origin's body holds a backtick")
		}
		return "{\n\tadmin {$HUB_ADMIN_LISTEN}\n}\nhttp://{$HUB_LISTEN} {\n\theader Content-Type application/json\n\trespond `" + string(origin.body) + "` 200\n}\n", nil
	})
	originRow("origin: hub_auth only (warm key)", 203, false, fixed(originAuth))
	originRow("origin: shipped chain, no hub_cache, no hub_audit", 204, false, shipped(cacheBlock, auditBlock))
	originRow("origin: shipped chain, no hub_cache", 205, false, shipped(cacheBlock))
	// The same chain with its audit journal on tmpfs, where fsync returns
	// at once: the difference to the row above is what durability (the
	// disk's fsync latency) costs, the rest is the audit handler's own work.
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		originRow("origin: shipped chain, no hub_cache, journal on tmpfs", 205, false, shipped(cacheBlock),
			func(e *Env) string {
				d, err := os.MkdirTemp("/dev/shm", "hubgate-bench-journal-")
				if err != nil {
					log.Fatal(err)
				}
				e.stops = append(e.stops, func() { os.RemoveAll(d) })
				return "HUB_AUDIT_DIR=" + d
			})
	}
	originRow("origin: shipped chain, cache hits (memory store)", 206, false, shipped())
	if os.Getenv("HUB_TEST_REDIS_URL") == "" {
		return
	}
	originRow("origin: shipped chain, cache hits (Redis store)", 207, false, shipped(),
		func(e *Env) string { return "HUB_REDIS_URL=" + e.RedisURL },
		func(e *Env) string {
			prefix := fmt.Sprintf("bench:origin:%d:", time.Now().UnixNano())
			e.stops = append(e.stops, func() { _, _ = harness.DeleteRedisPrefix(e.RedisURL, prefix) })
			return "HUB_REDIS_PREFIX=" + prefix
		})
}
