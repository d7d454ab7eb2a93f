package main

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// reprCaddyfile is hub_auth + hub_fields + hub_version in front of the
// upstream: the cost of selecting fields and of renaming to v2 (issue 4).
const reprCaddyfile = `{
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
	hub_fields {
		entity chantiers id nom adresse statut date_debut date_fin responsable_id client budget description created_at updated_at version
	}
	hub_version {
		mapping configs/v2-mapping.json
		deprecated 2026-01-01
		sunset 2027-06-30
	}
	reverse_proxy {$HUB_UPSTREAM} {
		header_up Accept-Encoding identity
		header_up X-Hub-Identity {hub.assertion}
	}
}
`

// reprList is the ~20 KB list of the repr rows.
const reprList = "/chantiers?limit=50"

var reprSeed struct {
	once sync.Once
	err  error
}

// seedChantiers makes sure the list has 50 items: the seed holds ~10, so 50
// more are created once, straight at the upstream with a signed assertion.
func seedChantiers(e *Env) error {
	reprSeed.once.Do(func() {
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; i < 50; i++ {
			tok, err := assertion.Sign([]byte(e.Secret), assertion.Claims{Subject: "1", Role: "admin", Method: "api_key", Scopes: []string{"write"}, HTTPMethod: "POST"}, time.Now())
			if err != nil {
				reprSeed.err = err
				return
			}
			body := fmt.Sprintf(`{"nom":"Chantier bench %d","adresse":"%d rue de la Gare, 69007 Lyon","statut":"en_cours","date_debut":"2025-01-01","client":"Métropole","budget":125000.5,"description":"Réfection de la toiture, des façades et des réseaux du bâtiment %d"}`, i, i, i)
			req, _ := http.NewRequest("POST", "http://"+e.Upstream.Addr+"/api/v1/chantiers", bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(assertion.Header, tok)
			resp, err := client.Do(req)
			if err != nil {
				reprSeed.err = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				reprSeed.err = fmt.Errorf("seed chantier: %d", resp.StatusCode)
				return
			}
		}
	})
	return reprSeed.err
}

func init() {
	reprRow := func(name string, order int, caddyfile, path string, headers func(*Env) func() map[string]string) {
		register(Row{Name: name, Group: "repr", Order: order, Baseline: order == 80,
			Setup: func(e *Env) (string, func() map[string]string, func(), error) {
				if err := seedChantiers(e); err != nil {
					return "", nil, nil, err
				}
				g, err := e.Gateway(caddyfile, "")
				if err != nil {
					return "", nil, nil, err
				}
				return g.URL + path, headers(e), g.Stop, nil
			}})
	}
	signed := func(e *Env) func() map[string]string { return e.Signed }
	key := func(e *Env) func() map[string]string { return e.KeyHeaders }
	reprRow("bare caddy reverse_proxy: 50-item list", 80, bareCaddyfile, "/api/v1"+reprList, signed)
	reprRow("hub_auth + hub_fields + hub_version: v1 50-item list, untouched", 81, reprCaddyfile, "/api/v1"+reprList, key)
	reprRow("hub_auth + hub_fields + hub_version: ?fields=id,nom,statut on 50 items", 82, reprCaddyfile, "/api/v1"+reprList+"&fields=id,nom,statut", key)
	reprRow("hub_auth + hub_fields + hub_version: v2 renaming of 50 items", 83, reprCaddyfile, "/api/v2"+reprList, key)
	reprRow("hub_auth + hub_fields + hub_version: v2 ?fields=id,name,status", 84, reprCaddyfile, "/api/v2"+reprList+"&fields=id,name,status", key)
}
