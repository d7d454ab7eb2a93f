package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"
)

// cacheUpstreamDelay is the latency the "cache" rows add to the upstream:
// the cache pays off against an upstream that takes time, which the
// loopback one does not.
const cacheUpstreamDelay = 5 * time.Millisecond

// cacheCaddyfile is hub_auth + hub_cache in front of the upstream: every
// measured request after the first is a hit.
const cacheCaddyfile = `{
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
	hub_auth {
		public GET /healthz
	}
	hub_cache
	reverse_proxy {$HUB_UPSTREAM} {
		header_up Accept-Encoding identity
		header_up X-Hub-Identity {hub.assertion}
	}
}
`

// delayProxy is a loopback reverse proxy in front of the shared upstream
// that holds every request for cacheUpstreamDelay. Started once, for the
// rows of the group.
var delayProxy struct {
	once sync.Once
	addr string
	err  error
}

func slowUpstream(e *Env) (string, error) {
	delayProxy.once.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			delayProxy.err = err
			return
		}
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: e.Upstream.Addr})
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
		rp.ErrorLog = log.New(io.Discard, "", 0)
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(cacheUpstreamDelay)
			rp.ServeHTTP(w, r)
		})}
		go func() { _ = srv.Serve(l) }()
		e.stops = append(e.stops, func() { _ = srv.Close() })
		delayProxy.addr = l.Addr().String()
	})
	return delayProxy.addr, delayProxy.err
}

func init() {
	register(Row{Name: "bare reverse_proxy, upstream +5ms", Group: "cache", Order: 80, Baseline: true,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			up, err := slowUpstream(e)
			if err != nil {
				return "", nil, nil, err
			}
			g, err := e.Gateway(bareCaddyfile, up)
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.Signed, g.Stop, nil
		}})
	register(Row{Name: "hub_auth + hub_cache hit (memory), upstream +5ms", Group: "cache", Order: 81,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			up, err := slowUpstream(e)
			if err != nil {
				return "", nil, nil, err
			}
			g, err := e.Gateway(cacheCaddyfile, up)
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
	if os.Getenv("HUB_TEST_REDIS_URL") == "" {
		return
	}
	register(Row{Name: "hub_auth + hub_cache hit (Redis), upstream +5ms", Group: "cache", Order: 82,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			up, err := slowUpstream(e)
			if err != nil {
				return "", nil, nil, err
			}
			g, err := e.Gateway(cacheCaddyfile, up, "HUB_REDIS_URL="+e.RedisURL,
				"HUB_BENCH_PREFIX=bench:cache:"+time.Now().Format("150405.000000")+":")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
}
