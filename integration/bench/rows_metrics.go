package main

// metricsCaddyfile is bare Caddy reverse_proxy plus hub_metrics alone: the
// cost of counting and timing every request (the default Caddyfile carries
// hub_metrics too, on top of every policy).
const metricsCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
}
http://{$HUB_LISTEN} {
	hub_metrics
	reverse_proxy {$HUB_UPSTREAM}
}
`

// breakerCaddyfile is bare Caddy with the hub circuit breaker on the proxy
// (closed all along: the cost of OK + RecordMetric per request).
const breakerCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
}
http://{$HUB_LISTEN} {
	hub_reverse_proxy {$HUB_UPSTREAM} {
		circuit_breaker hub {
			name bench
		}
	}
}
`

func init() {
	register(Row{Name: "bare caddy + hub_metrics only", Group: "metrics", Order: 12,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(metricsCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.Signed, g.Stop, nil
		}})
	register(Row{Name: "bare caddy + circuit breaker only", Group: "metrics", Order: 13,
		Setup: func(e *Env) (string, func() map[string]string, func(), error) {
			g, err := e.Gateway(breakerCaddyfile, "")
			if err != nil {
				return "", nil, nil, err
			}
			return g.URL + benchPath, e.Signed, g.Stop, nil
		}})
}
