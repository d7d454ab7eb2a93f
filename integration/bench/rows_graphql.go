package main

import "net/url"

// graphqlCaddyfile is the chain a GraphQL request takes (hub_auth,
// hub_graphql, hub_rate_limit charged the cost, the proxy), without the
// response cache: REST reads would otherwise be cache hits and GraphQL
// (never cached) would be compared with the cache, not with REST.
const graphqlCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	order hub_graphql after hub_auth
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
	}
}
http://{$HUB_LISTEN} {
	handle {
		hub_auth
		hub_graphql /graphql {
			schema configs/graphql/schema.graphql
		}
		hub_rate_limit {
			default 1000000/second
		}
		reverse_proxy {$HUB_UPSTREAM} {
			header_up Accept-Encoding identity
			header_up X-Hub-Identity {hub.assertion}
		}
	}
}
`

// graphqlQuery is issue 14's example: a chantier with its affectations and
// each one's user, in one request. The same data over REST is the chantier,
// its affectations, then each distinct user: 2 + k requests (the rows
// below time each kind).
const graphqlQuery = `{ chantier(id: 1) { nom statut affectations(first: 10) { role_chantier date_debut user { nom } } } }`

func init() {
	row := func(name string, order int, path string) {
		register(Row{Name: name, Group: "graphql", Order: order, Baseline: order == 140,
			Setup: func(e *Env) (string, func() map[string]string, func(), error) {
				g, err := e.Gateway(graphqlCaddyfile, "")
				if err != nil {
					return "", nil, nil, err
				}
				return g.URL + path, e.KeyHeaders, g.Stop, nil
			}})
	}
	row("GraphQL chain, REST: GET /api/v1/chantiers/1 (1st of 2+k calls)", 140, "/api/v1/chantiers/1")
	row("GraphQL chain, REST: GET /api/v1/affectations?chantier_id=1 (2nd call)", 141, "/api/v1/affectations?chantier_id=1&limit=10")
	row("GraphQL chain, REST: GET /api/v1/users/1 (one of the k user calls)", 142, "/api/v1/users/1")
	row("GraphQL chain: GET /graphql chantier + affectations + users (1 call)", 143, "/graphql?query="+url.QueryEscape(graphqlQuery))
}
