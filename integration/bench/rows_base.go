package main

// benchPath is the request of the base rows: a 20-item list.
const benchPath = "/api/v1/chantiers?limit=20"

// bareCaddyfile is plain Caddy reverse_proxy to the same upstream: the
// baseline every hubgate policy is measured against.
const bareCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
}
http://{$HUB_LISTEN} {
	reverse_proxy {$HUB_UPSTREAM}
}
`

// authOnlyCaddyfile is bare reverse_proxy plus hub_auth: the cost of
// authentication alone.
const authOnlyCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
	}
}
http://{$HUB_LISTEN} {
	hub_auth
	reverse_proxy {$HUB_UPSTREAM} {
		header_up Accept-Encoding identity
		header_up X-Hub-Identity {hub.assertion}
	}
}
`

func init() {
	register(Row{Name: "direct upstream", Group: "base", Order: 0,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			return "http://" + e.Upstream.Addr + benchPath, e.Signed, nil, nil
		}})
	register(Row{Name: "bare caddy reverse_proxy", Group: "bare", Order: 10, Baseline: true,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(bareCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.Signed, g.Stop, nil
		}})
	register(Row{Name: "hub_auth only (warm key)", Group: "auth", Order: 15,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(authOnlyCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
	register(Row{Name: "hubgate default Caddyfile, full chain (cache hits)", Group: "auth", Order: 20,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway("", "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.KeyHeaders, g.Stop, nil
		}})
}
