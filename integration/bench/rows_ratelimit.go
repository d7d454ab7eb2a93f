package main

import "os"

// rateLimitCaddyfile is the default chain up to hub_rate_limit: hub_auth,
// then a limit so high it never refuses, so the row measures the cost of
// one decision (one Redis script, or the memory store's lock) per request.
const rateLimitCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
		store redis {$HUB_REDIS_URL:}
	}
}
http://{$HUB_LISTEN} {
	handle {
		hub_auth
		hub_rate_limit {
			default 1000000/second
			rule stats GET /api/v1/stats 1000000/second
		}
		reverse_proxy {$HUB_UPSTREAM} {
			header_up Accept-Encoding identity
			header_up X-Hub-Identity {hub.assertion}
		}
	}
}
`

func init() {
	register(Row{Name: "hub_auth + hub_rate_limit (memory store)", Group: "ratelimit", Order: 30,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(rateLimitCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
	// Rows cannot skip at run time: the Redis row exists only when a
	// Redis is configured.
	if os.Getenv("HUB_TEST_REDIS_URL") == "" {
		return
	}
	register(Row{Name: "hub_auth + hub_rate_limit (Redis store)", Group: "ratelimit", Order: 31,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(rateLimitCaddyfile, "", "HUB_REDIS_URL="+e.RedisURL)
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
}
