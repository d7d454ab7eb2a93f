package main

import (
	"fmt"
	"net/http"
	"time"
)

// etagCaddyfile is hub_auth + hub_etag in front of the upstream: the cost of
// tagging (hashing the body sent) and of answering 304s.
const etagCaddyfile = `{
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
	hub_etag
	reverse_proxy {$HUB_UPSTREAM} {
		header_up Accept-Encoding identity
		header_up X-Hub-Identity {hub.assertion}
	}
}
`

// etagOnePath is a single row: the upstream's tag is kept, so a matching
// If-None-Match is answered 304 without a body.
const etagOnePath = "/api/v1/chantiers/1"

func init() {
	// The 200 path: the 20-item list has no upstream tag, so hub_etag holds
	// the body and hashes it (the row to compare with "hub_auth (warm key)").
	register(Row{Name: "hub_auth + hub_etag: list 200, tag computed", Group: "etag", Order: 60,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(etagCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
	// The 304 path: GET of one row with the If-None-Match it was given.
	register(Row{Name: "hub_auth + hub_etag: row 304 (If-None-Match)", Group: "etag", Order: 61,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(etagCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			tag, err := currentTag(g.URL+etagOnePath, e.KeyHeaders())
			if err != nil {
				g.Stop()
				return "", nil, nil, err
			}
			headers := func() map[string]string {
				h := e.KeyHeaders()
				h["If-None-Match"] = tag
				return h
			}
			return g.URL + etagOnePath, headers, g.Stop, nil
		}})
}

// currentTag GETs url once and returns its ETag.
func currentTag(url string, headers map[string]string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || tag == "" {
		return "", fmt.Errorf("GET %s: %d, ETag %q", url, resp.StatusCode, tag)
	}
	return tag, nil
}
